// Package phicrypt binds libphicrypt (include/phicrypt.h) with cgo: MongoDB
// client-side field-level encryption, format-preserving and opaque tokens,
// pseudonyms and de-identification of exports.
//
// A Client is safe for concurrent use by many goroutines. Bytes the library
// returns (plaintext included) are copied into Go memory and the C buffer is
// wiped (phicrypt_buf_dispose); Go's copies cannot be wiped by the library.
//
// Build: the headers are taken from ../../include and the library from
// ../../build (with an rpath); add other places with CGO_CFLAGS/CGO_LDFLAGS.
package phicrypt

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -L${SRCDIR}/../../build -Wl,-rpath,${SRCDIR}/../../build -lphicrypt -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Client is a phicrypt_t handle: configuration, key vault, KMS providers, keyring.
type Client struct {
	mu sync.RWMutex // read-held by calls in flight; Close takes it for writing
	h  *C.phicrypt_t
	// Open policies (C pointers only, so no cycle keeps a forgotten client
	// alive): they refer to the handle and are freed before it.
	policies map[*C.phicrypt_deid_policy]struct{}
}

// Version is the run-time version of libphicrypt.
func Version() string { return C.GoString(C.phicrypt_version()) }

// MongocryptVersion is the libmongocrypt version libphicrypt runs with.
func MongocryptVersion() string { return C.GoString(C.phicrypt_mongocrypt_version()) }

// Strerror is the static description of a return code.
func Strerror(code Code) string { return C.GoString(C.phicrypt_strerror(C.int(code))) }

// lastError reads the message of a failure; the caller holds its OS thread
// (runtime.LockOSThread) because the C library keeps it per thread.
func lastError(h *C.phicrypt_t, rc C.int) error {
	if rc == C.PHIGO_MISSING {
		return &Error{CodeUnsupported, "this libphicrypt lacks the function (module not built)"}
	}
	return newError(int(rc), C.GoString(C.phicrypt_errmsg(h)))
}

// noHandle runs a call that reports on the NULL handle (constructors, stand-alone primitives).
func noHandle(f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := f(); rc != 0 {
		return lastError(nil, rc)
	}
	return nil
}

// finalized counts clients freed by the finalizer (read by the tests).
var finalized atomic.Int64

func wrap(h *C.phicrypt_t) *Client {
	c := &Client{h: h, policies: map[*C.phicrypt_deid_policy]struct{}{}}
	// A forgotten client is freed when collected.
	runtime.SetFinalizer(c, func(c *Client) {
		c.Close()
		finalized.Add(1)
	})
	return c
}

// New creates a client from a configuration document (JSON text); relative
// paths in it resolve against the current directory.
func New(configJSON string) (*Client, error) {
	cs := C.CString(configJSON)
	defer C.free(unsafe.Pointer(cs))
	var h *C.phicrypt_t
	if err := noHandle(func() C.int { return C.phicrypt_new(&h, cs) }); err != nil {
		return nil, err
	}
	return wrap(h), nil
}

// NewFromFile creates a client from a configuration file; relative paths in
// it resolve against the file's directory.
func NewFromFile(path string) (*Client, error) {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	var h *C.phicrypt_t
	if err := noHandle(func() C.int { return C.phicrypt_new_from_file(&h, cs) }); err != nil {
		return nil, err
	}
	return wrap(h), nil
}

// Close frees the handle and wipes its keys. It waits for calls in flight,
// and is idempotent; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		for p := range c.policies {
			C.phigo_deid_policy_free(p)
		}
		c.policies = nil
		C.phicrypt_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// call runs f with the handle, on one OS thread (the error message is per thread).
func (c *Client) call(f func(h *C.phicrypt_t) C.int) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.h == nil {
		return ErrClosed
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := f(c.h); rc != 0 {
		return lastError(c.h, rc)
	}
	return nil
}

// bufCall runs a function that fills a phicrypt_buf and returns a copy of its bytes.
func (c *Client) bufCall(f func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int) ([]byte, error) {
	var b C.phicrypt_buf
	defer C.phicrypt_buf_dispose(&b) // wipes
	err := c.call(func(h *C.phicrypt_t) C.int { return f(h, &b) })
	if err != nil {
		return nil, err
	}
	return C.GoBytes(unsafe.Pointer(b.data), C.int(b.len)), nil
}

// bytesPtr passes a Go slice to C without a copy (it holds no Go pointers).
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

// cstr is C.CString for an optional string ("" gives NULL); free with cfree.
func cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func cfree(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// CreateLocalKeyFile writes a new 96-byte local master key (mode 0600); it refuses to overwrite.
func CreateLocalKeyFile(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	return noHandle(func() C.int { return C.phicrypt_local_key_file_create(cs) })
}
