package phicrypt

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func keyringClient(t *testing.T) *Client {
	t.Helper()
	c, _ := newClient(t)
	err := c.CreateTokenKey("tok:ssn", KeyringFF1)
	if errors.Is(err, ErrUnsupported) {
		t.Skip("keyring not in this libphicrypt")
	}
	if err != nil {
		t.Fatal(err)
	}
	for name, alg := range map[string]KeyringAlgorithm{"tok:opaque": KeyringSIV, "ps:patient": KeyringHMAC} {
		if err := c.CreateTokenKey(name, alg); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestTokenize(t *testing.T) {
	c := keyringClient(t)
	tok, err := c.Tokenize("tok:ssn", "123-45-6789", TokenOptions{Format: "ssn"})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`).MatchString(tok) || tok == "123-45-6789" {
		t.Fatalf("format not kept: %q", tok)
	}
	if back, err := c.Detokenize("tok:ssn", tok, TokenOptions{Format: "ssn"}); err != nil || back != "123-45-6789" {
		t.Fatalf("detokenize: %v", err)
	}
	siv, err := c.Tokenize("tok:opaque", "Jane Doe", TokenOptions{Context: "name"})
	if err != nil || !strings.HasPrefix(siv, "tk1.") {
		t.Fatalf("siv: %v %q", err, siv)
	}
	_, err = c.Detokenize("tok:opaque", siv, TokenOptions{Context: "other"})
	wantCode(t, err, ErrAuthentication)
	_, err = c.Tokenize("tok:none", "123-45-6789", TokenOptions{Format: "ssn"})
	wantCode(t, err, ErrKeyNotFound)
	_, err = c.Tokenize("tok:ssn", "12-3", TokenOptions{Format: "ssn"})
	wantCode(t, err, ErrBadData)
}

func TestPseudonymize(t *testing.T) {
	c := keyringClient(t)
	ps, err := c.Pseudonymize("ps:patient", "MRN-0042", PseudonymOptions{Context: "patient"})
	if err != nil || !strings.HasPrefix(ps, "ps1.") {
		t.Fatalf("%v %q", err, ps)
	}
	if ok, err := c.VerifyPseudonym("ps:patient", "MRN-0042", ps, PseudonymOptions{Context: "patient"}); !ok || err != nil {
		t.Fatalf("verify: %v", err)
	}
	if ok, _ := c.VerifyPseudonym("ps:patient", "MRN-0043", ps, PseudonymOptions{Context: "patient"}); ok {
		t.Fatal("verified a wrong value")
	}
	n := PseudonymOptions{Context: "patient", Normalize: NormTrim | NormCasefold}
	a, _ := c.Pseudonymize("ps:patient", " mrn-0042 ", n)
	b, _ := c.Pseudonymize("ps:patient", "MRN-0042", n)
	if a != b {
		t.Fatal("normalisation ignored")
	}
}

func TestKeyringManagement(t *testing.T) {
	c := keyringClient(t)
	wantCode(t, c.CreateTokenKey("tok:ssn", KeyringFF1), ErrExists)
	old, _ := c.Tokenize("tok:opaque", "v", TokenOptions{})
	v, err := c.RotateTokenKey("tok:opaque")
	if err != nil || v != 2 {
		t.Fatalf("rotate: %v %d", err, v)
	}
	if err = c.RetireTokenKey("tok:opaque", 1); err != nil {
		t.Fatal(err)
	}
	if back, err := c.Detokenize("tok:opaque", old, TokenOptions{}); err != nil || back != "v" {
		t.Fatal("retired version no longer detokenizes")
	}
	list, err := c.ListTokenKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := lookup(list, "keys.2"); !ok {
		t.Fatal("list lacks keys")
	}
	if err = c.DestroyTokenKey("tok:opaque", 1); err != nil {
		t.Fatal(err)
	}
	_, err = c.Detokenize("tok:opaque", old, TokenOptions{})
	wantCode(t, err, ErrKeyNotFound)
	if err = c.DestroyTokenKey("tok:opaque", 0); err != nil {
		t.Fatal(err)
	}
}
