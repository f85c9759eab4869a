package phicrypt

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// Session says who is asking, in which role, and why (minimum necessary).
// Subject optionally names the patient, only for the audit line's pseudonymous id.
type Session struct {
	Actor, Role, Purpose, Subject string
}

func (s Session) c() (cs C.phicrypt_session, free func()) {
	cs.version = C.PHICRYPT_SESSION_VERSION
	cs.actor, cs.role, cs.purpose, cs.subject = cstr(s.Actor), cstr(s.Role), cstr(s.Purpose), cstr(s.Subject)
	return cs, func() { cfree(cs.actor); cfree(cs.role); cfree(cs.purpose); cfree(cs.subject) }
}

// sessionArgs: the C session, namespace ("" for NULL) and field; free releases them.
func sessionArgs(s Session, ns, field string) (cs C.phicrypt_session, n, f *C.char, free func()) {
	cs, freeS := s.c()
	n, f = cstr(ns), C.CString(field)
	return cs, n, f, func() { freeS(); cfree(n); C.free(unsafe.Pointer(f)) }
}

// DecryptDocumentAs decrypts only the fields the session may see in ns ("" for
// any namespace); the decision and the disclosure are audited.
func (c *Client) DecryptDocumentAs(s Session, ns string, doc []byte) ([]byte, error) {
	cs, free := s.c()
	defer free()
	n := cstr(ns)
	defer cfree(n)
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phigo_decrypt_document_as(h, out, &cs, n, bytesPtr(doc), C.size_t(len(doc)))
	})
}

// DecryptAs is Decrypt of the value of field (a path) in ns, checked against the session's rules.
func (c *Client) DecryptAs(s Session, ns, field string, ciphertextDoc []byte) ([]byte, error) {
	cs, n, f, free := sessionArgs(s, ns, field)
	defer free()
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phigo_decrypt_as(h, out, &cs, n, f, bytesPtr(ciphertextDoc), C.size_t(len(ciphertextDoc)))
	})
}

// AccessCheck returns nil when the session may decrypt field of ns, an
// error matching ErrAccessDenied when it may not.
func (c *Client) AccessCheck(s Session, ns, field string) error {
	cs, n, f, free := sessionArgs(s, ns, field)
	defer free()
	return c.call(func(h *C.phicrypt_t) C.int { return C.phigo_access_check(h, &cs, n, f) })
}

// DetokenizeAs is Detokenize of a token of field (a path) in ns: the role must
// see the field and may use the keyring key (access.roles.<role>.keys); audited.
func (c *Client) DetokenizeAs(s Session, ns, field, key, token string, o TokenOptions) (string, error) {
	cs, n, f, free := sessionArgs(s, ns, field)
	defer free()
	return c.tokenCall(func(h *C.phicrypt_t, out *C.phicrypt_buf, k, v *C.char, l C.size_t,
		opts *C.phicrypt_token_opts) C.int {
		return C.phigo_detokenize_as(h, out, &cs, n, f, k, v, l, opts)
	}, key, token, o)
}

// ReidentifyFileAs is ReidentifyFile for a session: the fields the role may see
// (with keys it may use) are restored, the others left as configured; the
// report lists reid_fields and withheld_fields. The output appears only once
// its audit line is written.
func (c *Client) ReidentifyFileAs(s Session, ns string, p *Policy, in, out string, o DeidOptions) (string, error) {
	cs, free := s.c()
	defer free()
	n := cstr(ns)
	defer cfree(n)
	return p.file(func(h *C.phicrypt_t, r *C.phicrypt_buf, pp *C.phicrypt_deid_policy, i, w *C.char,
		opts *C.phicrypt_deid_opts) C.int {
		return C.phigo_reid_file_as(h, r, &cs, n, pp, i, w, opts)
	}, in, out, o)
}
