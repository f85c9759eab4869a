package phicrypt

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// Algorithm is a CSFLE encryption algorithm.
type Algorithm int

const (
	// Deterministic: equal values give equal ciphertexts (queryable by equality).
	Deterministic Algorithm = C.PHICRYPT_ALG_DETERMINISTIC
	// Random: a fresh IV every time.
	Random Algorithm = C.PHICRYPT_ALG_RANDOM
)

// EncryptOptions chooses the data key (exactly one of KeyID and KeyAltName) and the algorithm.
type EncryptOptions struct {
	Algorithm  Algorithm // zero means Deterministic
	KeyID      []byte    // 16-byte data key id
	KeyAltName string
}

// cEncryptOpts builds the C options; free releases the C memory it holds.
func (o EncryptOptions) c() (opts C.phicrypt_encrypt_opts, free func()) {
	opts.version = C.PHICRYPT_ENCRYPT_OPTS_VERSION
	opts.algorithm = C.PHICRYPT_ALG_DETERMINISTIC
	if o.Algorithm != 0 {
		opts.algorithm = C.phicrypt_algorithm(o.Algorithm)
	}
	var id unsafe.Pointer
	if o.KeyID != nil {
		id = C.CBytes(o.KeyID) // C memory: a Go pointer may not sit inside a struct passed to C
		opts.key_id = (*C.uint8_t)(id)
	}
	name := cstr(o.KeyAltName)
	opts.key_alt_name = name
	return opts, func() {
		if id != nil {
			C.free(id)
		}
		cfree(name)
	}
}

// Encrypt encrypts one value given as the BSON document {"v": value}; the
// result is the BSON document {"v": BinData(6, ...)}.
func (c *Client) Encrypt(valueDoc []byte, o EncryptOptions) ([]byte, error) {
	opts, free := o.c()
	defer free()
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_encrypt(h, out, bytesPtr(valueDoc), C.size_t(len(valueDoc)), &opts)
	})
}

// Decrypt decrypts the BSON document {"v": BinData(6, ...)} into {"v": value}.
func (c *Client) Decrypt(ciphertextDoc []byte) ([]byte, error) {
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_decrypt(h, out, bytesPtr(ciphertextDoc), C.size_t(len(ciphertextDoc)))
	})
}

// EncryptJSON encrypts one Extended JSON value; the ciphertext comes back as
// canonical Extended JSON ({"$binary": {"base64": ..., "subType": "06"}}).
func (c *Client) EncryptJSON(valueJSON string, o EncryptOptions) (string, error) {
	opts, free := o.c()
	defer free()
	v := C.CString(valueJSON)
	defer C.free(unsafe.Pointer(v))
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_encrypt_json(h, out, v, &opts)
	})
	return string(b), err
}

// DecryptJSON decrypts a ciphertext given as Extended JSON; the value comes
// back as Extended JSON (canonical or relaxed).
func (c *Client) DecryptJSON(ciphertextJSON string, canonical bool) (string, error) {
	v := C.CString(ciphertextJSON)
	defer C.free(unsafe.Pointer(v))
	flag := C.int(0)
	if canonical {
		flag = 1
	}
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_decrypt_json(h, out, v, flag)
	})
	return string(b), err
}

// EncryptCommand encrypts a MongoDB command (BSON) for database db per the
// configuration's schema map, as a driver with mongocryptd would.
func (c *Client) EncryptCommand(db string, cmd []byte) ([]byte, error) {
	d := C.CString(db)
	defer C.free(unsafe.Pointer(d))
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_encrypt_command(h, out, d, bytesPtr(cmd), C.size_t(len(cmd)))
	})
}

// DecryptDocument decrypts every encrypted value of a BSON document, at any depth.
func (c *Client) DecryptDocument(doc []byte) ([]byte, error) {
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_decrypt_document(h, out, bytesPtr(doc), C.size_t(len(doc)))
	})
}

// EncryptDocument is a BSON document as it would be inserted into ns ("db.collection").
func (c *Client) EncryptDocument(ns string, doc []byte) ([]byte, error) {
	n := C.CString(ns)
	defer C.free(unsafe.Pointer(n))
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_encrypt_document(h, out, n, bytesPtr(doc), C.size_t(len(doc)))
	})
}

// AnalyzeCommand says what automatic encryption would do with a command
// (BSON {"ok": true, "fields": [...]} or {"ok": false, "error": ...}).
func (c *Client) AnalyzeCommand(db string, cmd []byte) ([]byte, error) {
	d := C.CString(db)
	defer C.free(unsafe.Pointer(d))
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_analyze_command(h, out, d, bytesPtr(cmd), C.size_t(len(cmd)))
	})
}
