package phicrypt

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import "unsafe"

// FF1Encrypt is NIST SP 800-38G FF1 with a raw AES key (16, 24 or 32 bytes)
// over alphabet (symbol i is numeral i); the result keeps length and alphabet.
func FF1Encrypt(key, tweak []byte, alphabet, in string) (string, error) {
	return ff1(true, key, tweak, alphabet, in)
}

// FF1Decrypt reverses FF1Encrypt.
func FF1Decrypt(key, tweak []byte, alphabet, in string) (string, error) {
	return ff1(false, key, tweak, alphabet, in)
}

func ff1(enc bool, key, tweak []byte, alphabet, in string) (string, error) {
	if rc := C.phicrypt_init(); rc != 0 {
		return "", newError(int(rc), "phicrypt_init failed")
	}
	a, s := C.CString(alphabet), C.CString(in)
	out := (*C.char)(C.malloc(C.size_t(len(in) + 1)))
	defer func() {
		C.memset(unsafe.Pointer(out), 0, C.size_t(len(in)+1)) // may hold a decryption's plaintext
		C.memset(unsafe.Pointer(s), 0, C.size_t(len(in)))
		C.free(unsafe.Pointer(out))
		C.free(unsafe.Pointer(s))
		C.free(unsafe.Pointer(a))
	}()
	var res string
	err := noHandle(func() C.int {
		var rc C.int
		if enc {
			rc = C.phigo_ff1_encrypt(out, bytesPtr(key), C.size_t(len(key)), bytesPtr(tweak), C.size_t(len(tweak)), a, s,
				C.size_t(len(in)))
		} else {
			rc = C.phigo_ff1_decrypt(out, bytesPtr(key), C.size_t(len(key)), bytesPtr(tweak), C.size_t(len(tweak)), a, s,
				C.size_t(len(in)))
		}
		if rc == 0 {
			res = C.GoStringN(out, C.int(len(in)))
		}
		return rc
	})
	return res, err
}
