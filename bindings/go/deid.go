package phicrypt

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Format is a file format of the de-identification engine.
type Format int

const (
	FormatAuto  Format = C.PHICRYPT_DEID_AUTO // from the input file's extension
	FormatJSONL Format = C.PHICRYPT_DEID_JSONL
	FormatJSON  Format = C.PHICRYPT_DEID_JSON
	FormatBSON  Format = C.PHICRYPT_DEID_BSON
	FormatCSV   Format = C.PHICRYPT_DEID_CSV
)

// Policy is a validated de-identification policy bound to a Client. Close
// it before the client (a forgotten one is freed when collected).
type Policy struct {
	mu sync.RWMutex
	c  *Client
	p  *C.phicrypt_deid_policy
}

// NewPolicy parses and validates a policy (JSON text).
func (c *Client) NewPolicy(policyJSON string) (*Policy, error) {
	s := C.CString(policyJSON)
	defer C.free(unsafe.Pointer(s))
	var p *C.phicrypt_deid_policy
	if err := c.call(func(h *C.phicrypt_t) C.int { return C.phigo_deid_policy_new(&p, h, s) }); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.h == nil { // closed meanwhile
		c.mu.Unlock()
		C.phigo_deid_policy_free(p)
		return nil, ErrClosed
	}
	c.policies[p] = struct{}{}
	c.mu.Unlock()
	pol := &Policy{c: c, p: p}
	runtime.SetFinalizer(pol, func(p *Policy) { p.Close() })
	return pol, nil
}

// Close frees the policy; idempotent (closing the client frees it too).
func (p *Policy) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		p.c.mu.Lock()
		if _, open := p.c.policies[p.p]; open {
			C.phigo_deid_policy_free(p.p)
			delete(p.c.policies, p.p)
		}
		p.c.mu.Unlock()
		p.p = nil
		runtime.SetFinalizer(p, nil)
	}
	return nil
}

// DeidOptions are the options of DeidentifyFile and ReidentifyFile.
type DeidOptions struct {
	Format  Format // FormatAuto: from the extension
	Threads int    // worker threads; 0 or 1: the calling thread only
	SkipBad bool   // skip malformed records and list them in the report
}

func (p *Policy) file(fn func(*C.phicrypt_t, *C.phicrypt_buf, *C.phicrypt_deid_policy, *C.char, *C.char,
	*C.phicrypt_deid_opts) C.int, in, out string, o DeidOptions) (string, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return "", ErrClosed
	}
	var opts C.phicrypt_deid_opts
	opts.version = C.PHICRYPT_DEID_OPTS_VERSION
	opts.format = C.phicrypt_deid_format(o.Format)
	opts.threads = C.uint(o.Threads)
	if o.SkipBad {
		opts.skip_bad = 1
	}
	i, w := C.CString(in), C.CString(out)
	defer C.free(unsafe.Pointer(i))
	defer C.free(unsafe.Pointer(w))
	b, err := p.c.bufCall(func(h *C.phicrypt_t, r *C.phicrypt_buf) C.int { return fn(h, r, p.p, i, w, &opts) })
	return string(b), err
}

// DeidentifyFile de-identifies a file (JSON lines, JSON array, BSON, CSV)
// into out, atomically, and returns the report (JSON text).
func (c *Client) DeidentifyFile(p *Policy, in, out string, o DeidOptions) (string, error) {
	return p.file(func(h *C.phicrypt_t, r *C.phicrypt_buf, pp *C.phicrypt_deid_policy, i, w *C.char,
		opts *C.phicrypt_deid_opts) C.int {
		return C.phigo_deid_file(h, r, pp, i, w, opts)
	}, in, out, o)
}

// ReidentifyFile reverses the reversible actions (tokenize, encrypt) of DeidentifyFile.
func (c *Client) ReidentifyFile(p *Policy, in, out string, o DeidOptions) (string, error) {
	return p.file(func(h *C.phicrypt_t, r *C.phicrypt_buf, pp *C.phicrypt_deid_policy, i, w *C.char,
		opts *C.phicrypt_deid_opts) C.int {
		return C.phigo_reid_file(h, r, pp, i, w, opts)
	}, in, out, o)
}

// DeidentifyJSON de-identifies one JSON document (a line of a JSON-lines export).
func (c *Client) DeidentifyJSON(p *Policy, doc string) (string, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return "", ErrClosed
	}
	d := C.CString(doc)
	defer func() { C.memset(unsafe.Pointer(d), 0, C.size_t(len(doc))); C.free(unsafe.Pointer(d)) }()
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phigo_deid_json(h, out, p.p, d, C.size_t(len(doc)))
	})
	return string(b), err
}
