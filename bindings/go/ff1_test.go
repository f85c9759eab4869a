package phicrypt

import (
	"encoding/hex"
	"errors"
	"testing"
)

func TestFF1NISTVectors(t *testing.T) {
	k128, _ := hex.DecodeString("2B7E151628AED2A6ABF7158809CF4F3C")
	k256, _ := hex.DecodeString("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
	tw, _ := hex.DecodeString("39383736353433323130")
	tw3, _ := hex.DecodeString("3737373770717273373737")
	// NIST SP 800-38G FF1 samples 1, 2, 3 and 7.
	for _, v := range []struct {
		key, tweak       []byte
		alphabet, pt, ct string
	}{
		{k128, nil, "0123456789", "0123456789", "2433477484"},
		{k128, tw, "0123456789", "0123456789", "6124200773"},
		{k128, tw3, "0123456789abcdefghijklmnopqrstuvwxyz", "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
		{k256, nil, "0123456789", "0123456789", "6657667009"},
	} {
		ct, err := FF1Encrypt(v.key, v.tweak, v.alphabet, v.pt)
		if errors.Is(err, ErrUnsupported) {
			t.Skip("FF1 not in this libphicrypt")
		}
		if err != nil || ct != v.ct {
			t.Fatalf("encrypt: %v %q", err, ct)
		}
		if pt, err := FF1Decrypt(v.key, v.tweak, v.alphabet, ct); err != nil || pt != v.pt {
			t.Fatalf("decrypt: %v", err)
		}
	}
	_, err := FF1Encrypt(k256, nil, "0123456789", "01234x6789")
	wantCode(t, err, ErrInvalidArgument)
	_, err = FF1Encrypt(k256, nil, "0123456789", "12345")
	wantCode(t, err, ErrInvalidArgument)
	_, err = FF1Encrypt([]byte("short"), nil, "0123456789", "0123456789")
	wantCode(t, err, ErrInvalidArgument)
}
