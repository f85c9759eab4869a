package phicrypt

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// KeyringAlgorithm is what a keyring key is for.
type KeyringAlgorithm int

const (
	KeyringFF1  KeyringAlgorithm = C.PHICRYPT_KEYRING_FF1  // format-preserving tokens
	KeyringSIV  KeyringAlgorithm = C.PHICRYPT_KEYRING_SIV  // opaque reversible tokens
	KeyringHMAC KeyringAlgorithm = C.PHICRYPT_KEYRING_HMAC // one-way pseudonyms
)

// Normalisation flags of PseudonymOptions.
const (
	NormTrim     = C.PHICRYPT_NORM_TRIM
	NormCasefold = C.PHICRYPT_NORM_CASEFOLD
	NormCollapse = C.PHICRYPT_NORM_COLLAPSE
)

// CreateTokenKey creates a keyring key with its first version.
func (c *Client) CreateTokenKey(name string, alg KeyringAlgorithm) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.call(func(h *C.phicrypt_t) C.int {
		return C.phigo_keyring_create(h, n, C.phicrypt_keyring_algorithm(alg))
	})
}

// RotateTokenKey adds a version that becomes primary and returns its number.
func (c *Client) RotateTokenKey(name string) (uint32, error) {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	var v C.uint32_t
	err := c.call(func(h *C.phicrypt_t) C.int { return C.phigo_keyring_rotate(h, &v, n) })
	return uint32(v), err
}

// RetireTokenKey stops a version from making new tokens (it still reverses old ones).
func (c *Client) RetireTokenKey(name string, version uint32) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.call(func(h *C.phicrypt_t) C.int { return C.phigo_keyring_retire(h, n, C.uint32_t(version)) })
}

// DestroyTokenKey destroys a version, or with 0 the whole key (crypto-shredding).
func (c *Client) DestroyTokenKey(name string, version uint32) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.call(func(h *C.phicrypt_t) C.int { return C.phigo_keyring_destroy(h, n, C.uint32_t(version)) })
}

// ListTokenKeys is the BSON document {"keys": [{name, algorithm, primary, versions}]}.
func (c *Client) ListTokenKeys() ([]byte, error) {
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int { return C.phigo_keyring_list(h, out) })
}

// TokenOptions are the options of Tokenize and Detokenize.
type TokenOptions struct {
	Format     string // "siv" (default) or an FF1 format: "digits", "ssn", "phone", "mrn", "alnum", ...
	Context    string // FF1 tweak / SIV associated data
	Alphabet   string // symbols of the "custom" format
	KeyVersion uint32 // 0: primary (FF1 detokenize needs the version that made the token)
}

func (o TokenOptions) c() (opts C.phicrypt_token_opts, free func()) {
	opts.version = C.PHICRYPT_TOKEN_OPTS_VERSION
	opts.format, opts.context, opts.alphabet = cstr(o.Format), cstr(o.Context), cstr(o.Alphabet)
	opts.key_version = C.uint32_t(o.KeyVersion)
	return opts, func() { cfree(opts.format); cfree(opts.context); cfree(opts.alphabet) }
}

func (c *Client) tokenCall(fn func(*C.phicrypt_t, *C.phicrypt_buf, *C.char, *C.char, C.size_t,
	*C.phicrypt_token_opts) C.int, key, value string, o TokenOptions) (string, error) {
	opts, free := o.c()
	defer free()
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	v := C.CString(value)
	defer func() { C.memset(unsafe.Pointer(v), 0, C.size_t(len(value))); C.free(unsafe.Pointer(v)) }()
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return fn(h, out, k, v, C.size_t(len(value)), &opts)
	})
	return string(b), err
}

// Tokenize makes a deterministic reversible token with a keyring key.
func (c *Client) Tokenize(key, value string, o TokenOptions) (string, error) {
	return c.tokenCall(func(h *C.phicrypt_t, out *C.phicrypt_buf, k, v *C.char, n C.size_t,
		opts *C.phicrypt_token_opts) C.int {
		return C.phigo_tokenize(h, out, k, v, n, opts)
	}, key, value, o)
}

// Detokenize reverses Tokenize.
func (c *Client) Detokenize(key, token string, o TokenOptions) (string, error) {
	return c.tokenCall(func(h *C.phicrypt_t, out *C.phicrypt_buf, k, v *C.char, n C.size_t,
		opts *C.phicrypt_token_opts) C.int {
		return C.phigo_detokenize(h, out, k, v, n, opts)
	}, key, token, o)
}

// PseudonymOptions are the options of Pseudonymize.
type PseudonymOptions struct {
	Context    string // subkey context
	Normalize  uint   // Norm* flags
	Length     int    // MAC bytes 16..32; 0 means 16
	KeyVersion uint32 // 0: primary
}

func (o PseudonymOptions) c() (opts C.phicrypt_pseudonym_opts, free func()) {
	opts.version = C.PHICRYPT_PSEUDONYM_OPTS_VERSION
	opts.context = cstr(o.Context)
	opts.normalize = C.uint(o.Normalize)
	opts.length = C.size_t(o.Length)
	opts.key_version = C.uint32_t(o.KeyVersion)
	return opts, func() { cfree(opts.context) }
}

// Pseudonymize is the one-way pseudonym ps1.<version>.<base32> of a value.
func (c *Client) Pseudonymize(key, value string, o PseudonymOptions) (string, error) {
	opts, free := o.c()
	defer free()
	k := C.CString(key)
	defer C.free(unsafe.Pointer(k))
	v := C.CString(value)
	defer func() { C.memset(unsafe.Pointer(v), 0, C.size_t(len(value))); C.free(unsafe.Pointer(v)) }()
	b, err := c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phigo_pseudonymize(h, out, k, v, C.size_t(len(value)), &opts)
	})
	return string(b), err
}

// VerifyPseudonym reports whether pseudonym is the pseudonym of value (constant time).
func (c *Client) VerifyPseudonym(key, value, pseudonym string, o PseudonymOptions) (bool, error) {
	opts, free := o.c()
	defer free()
	k, v, p := C.CString(key), C.CString(value), C.CString(pseudonym)
	defer C.free(unsafe.Pointer(k))
	defer C.free(unsafe.Pointer(p))
	defer func() { C.memset(unsafe.Pointer(v), 0, C.size_t(len(value))); C.free(unsafe.Pointer(v)) }()
	err := c.call(func(h *C.phicrypt_t) C.int {
		return C.phigo_pseudonym_verify(h, k, v, C.size_t(len(value)), p, &opts)
	})
	if err == nil {
		return true, nil
	}
	if e, ok := err.(*Error); ok && e.Code == CodeAuthentication {
		return false, nil
	}
	return false, err
}
