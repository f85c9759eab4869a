package phicrypt

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// AuditVerify checks the hash chain of an audit log ("" for the configured
// one): "intact: N lines", or an error matching ErrAuthentication (a line
// edited, removed, reordered or forged) or ErrBadData (a torn line).
func (c *Client) AuditVerify(path string) (string, error) {
	p := cstr(path)
	defer cfree(p)
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int { return C.phigo_audit_verify(h, out, p) })
	return string(b), err
}

// AuditDisclosures is the accounting of disclosures of one patient, as the BSON
// document {"subject": ..., "disclosures": [...]}, entries at or after sinceMs.
func (c *Client) AuditDisclosures(subjectValue string, sinceMs int64) ([]byte, error) {
	s := C.CString(subjectValue)
	defer func() { C.memset(unsafe.Pointer(s), 0, C.size_t(len(subjectValue))); C.free(unsafe.Pointer(s)) }()
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phigo_audit_disclosures(h, out, s, C.int64_t(sinceMs))
	})
}

// AuditSubjectID is the pseudonymous subject id ("sub1.<hex>") the log records for a patient.
func (c *Client) AuditSubjectID(subjectValue string) (string, error) {
	s := C.CString(subjectValue)
	defer func() { C.memset(unsafe.Pointer(s), 0, C.size_t(len(subjectValue))); C.free(unsafe.Pointer(s)) }()
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int { return C.phigo_audit_subject_id(h, out, s) })
	return string(b), err
}
