package phicrypt

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// KeyID is a data key id (a UUID in RFC 4122 byte order).
type KeyID [16]byte

// DataKeyOptions are the options of CreateDataKey.
type DataKeyOptions struct {
	Provider      string   // "" means "local"
	MasterKeyJSON string   // the provider's master key document; "" for local
	AltNames      []string // unique in the key vault
	KeyMaterial   []byte   // 96 bytes of custom material, or nil for random
}

// CreateDataKey creates a data key wrapped by the provider's master key.
func (c *Client) CreateDataKey(o DataKeyOptions) (KeyID, error) {
	var id KeyID
	var opts C.phicrypt_datakey_opts
	opts.version = C.PHICRYPT_DATAKEY_OPTS_VERSION
	p := cstr(o.Provider)
	defer cfree(p)
	opts.provider = p
	mk := cstr(o.MasterKeyJSON)
	defer cfree(mk)
	opts.master_key_json = mk
	if n := len(o.AltNames); n > 0 {
		arr := (*[1 << 20]*C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))[:n:n]
		for i, s := range o.AltNames {
			arr[i] = C.CString(s)
		}
		defer func() {
			for _, s := range arr {
				C.free(unsafe.Pointer(s))
			}
			C.free(unsafe.Pointer(&arr[0]))
		}()
		opts.alt_names = &arr[0]
		opts.alt_names_count = C.size_t(n)
	}
	if o.KeyMaterial != nil {
		m := C.CBytes(o.KeyMaterial)
		defer func() {
			C.memset(m, 0, C.size_t(len(o.KeyMaterial)))
			C.free(m)
		}()
		opts.key_material = (*C.uint8_t)(m)
		opts.key_material_len = C.size_t(len(o.KeyMaterial))
	}
	err := c.call(func(h *C.phicrypt_t) C.int {
		return C.phicrypt_datakey_create(h, (*C.uint8_t)(unsafe.Pointer(&id[0])), &opts)
	})
	return id, err
}

func idPtr(id *KeyID) *C.uint8_t { return (*C.uint8_t)(unsafe.Pointer(&id[0])) }

// GetDataKey is the key document (BSON, without key material).
func (c *Client) GetDataKey(id KeyID) ([]byte, error) {
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_datakey_get(h, out, idPtr(&id))
	})
}

// GetDataKeyByAltName is GetDataKey by alternate name.
func (c *Client) GetDataKeyByAltName(name string) ([]byte, error) {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_datakey_get_by_alt_name(h, out, n)
	})
}

// ListDataKeys is the BSON document {"keys": [doc, ...]} (no key material).
func (c *Client) ListDataKeys() ([]byte, error) {
	return c.bufCall(func(h *C.phicrypt_t, out *C.phicrypt_buf) C.int {
		return C.phicrypt_datakey_list(h, out)
	})
}

// DeleteDataKey deletes a data key: what it encrypted can no longer be decrypted.
func (c *Client) DeleteDataKey(id KeyID) error {
	return c.call(func(h *C.phicrypt_t) C.int { return C.phicrypt_datakey_delete(h, idPtr(&id)) })
}

// AddKeyAltName adds an alternate name to a key.
func (c *Client) AddKeyAltName(id KeyID, name string) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.call(func(h *C.phicrypt_t) C.int { return C.phicrypt_datakey_add_alt_name(h, idPtr(&id), n) })
}

// RemoveKeyAltName removes an alternate name from a key.
func (c *Client) RemoveKeyAltName(id KeyID, name string) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return c.call(func(h *C.phicrypt_t) C.int { return C.phicrypt_datakey_remove_alt_name(h, idPtr(&id), n) })
}

// KeyIDByAltName resolves an alternate name.
func (c *Client) KeyIDByAltName(name string) (KeyID, error) {
	var id KeyID
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	err := c.call(func(h *C.phicrypt_t) C.int { return C.phicrypt_datakey_id_by_alt_name(h, idPtr(&id), n) })
	return id, err
}

// RewrapDataKeys rotates master keys: the data keys matching filterJSON (a
// MongoDB filter over key documents; "" for all) are rewrapped under
// provider's master key ("" keeps each key's own), in one atomic write.
// Ciphertexts do not change. It returns the number of keys rewrapped.
func (c *Client) RewrapDataKeys(filterJSON, provider, masterKeyJSON string) (int, error) {
	f, p, m := cstr(filterJSON), cstr(provider), cstr(masterKeyJSON)
	defer cfree(f)
	defer cfree(p)
	defer cfree(m)
	var n C.size_t
	err := c.call(func(h *C.phicrypt_t) C.int { return C.phigo_datakey_rewrap(h, &n, f, p, m) })
	return int(n), err
}
