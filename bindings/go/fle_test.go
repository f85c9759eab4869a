package phicrypt

import (
	"bytes"
	"strings"
	"testing"
)

func TestEncryptDecryptBSON(t *testing.T) {
	c, id := newClient(t)
	v := encodeDoc(D{{"v", "123-45-6789"}})
	ct, err := c.Encrypt(v, EncryptOptions{KeyAltName: "patients"})
	if err != nil {
		t.Fatal(err)
	}
	if !isEncrypted(ct, "v") {
		t.Fatal("not a subtype 6 ciphertext")
	}
	ct2, _ := c.Encrypt(v, EncryptOptions{KeyID: id[:], Algorithm: Deterministic})
	if !bytes.Equal(ct, ct2) {
		t.Fatal("deterministic ciphertexts differ")
	}
	pt, err := c.Decrypt(ct)
	if err != nil || !bytes.Equal(pt, v) {
		t.Fatalf("round trip: %v", err)
	}
	r1, _ := c.Encrypt(v, EncryptOptions{KeyAltName: "patients", Algorithm: Random})
	r2, _ := c.Encrypt(v, EncryptOptions{KeyAltName: "patients", Algorithm: Random})
	if bytes.Equal(r1, r2) {
		t.Fatal("random ciphertexts equal")
	}
}

func TestEncryptDecryptJSON(t *testing.T) {
	c, _ := newClient(t)
	ct, err := c.EncryptJSON(`"123-45-6789"`, EncryptOptions{KeyAltName: "patients"})
	if err != nil || !strings.Contains(ct, `"subType":"06"`) {
		t.Fatalf("%v %q", err, ct)
	}
	pt, err := c.DecryptJSON(ct, false)
	if err != nil || pt != `"123-45-6789"` {
		t.Fatalf("%v %q", err, pt)
	}
	ct, _ = c.EncryptJSON(`{"$numberLong": "7"}`, EncryptOptions{KeyAltName: "patients"})
	if pt, _ = c.DecryptJSON(ct, true); !strings.Contains(pt, "numberLong") {
		t.Fatalf("canonical: %q", pt)
	}
	_, err = c.DecryptJSON("not json", false)
	wantCode(t, err, ErrBadData)
}

func TestEncryptErrors(t *testing.T) {
	c, _ := newClient(t)
	v := encodeDoc(D{{"v", "x"}})
	_, err := c.Encrypt(v, EncryptOptions{KeyAltName: "nobody"})
	wantCode(t, err, ErrKeyNotFound)
	_, err = c.Encrypt(v, EncryptOptions{})
	wantCode(t, err, ErrInvalidArgument)
	_, err = c.Encrypt(encodeDoc(D{{"v", true}}), EncryptOptions{KeyAltName: "patients"})
	wantCode(t, err, ErrInvalidArgument) // deterministic bool is refused, as MongoDB does
	_, err = c.Encrypt([]byte{1, 2, 3}, EncryptOptions{KeyAltName: "patients"})
	wantCode(t, err, ErrBadData)
}

func TestDecryptCorrupted(t *testing.T) {
	c, _ := newClient(t)
	ct, _ := c.Encrypt(encodeDoc(D{{"v", "123-45-6789"}}), EncryptOptions{KeyAltName: "patients"})
	bad := append([]byte(nil), ct...)
	bad[len(bad)-3] ^= 1
	_, err := c.Decrypt(bad)
	wantCode(t, err, ErrAuthentication)
	if strings.Contains(err.Error(), "123-45-6789") {
		t.Fatal("plaintext in an error message")
	}
	_, err = c.Decrypt(encodeDoc(D{{"v", "not a ciphertext"}}))
	if err == nil {
		t.Fatal("decrypted a string")
	}
}

func TestEncryptCommandDecryptDocument(t *testing.T) {
	c, _ := newClient(t)
	cmd := encodeDoc(D{{"insert", "patients"}, {"documents", []interface{}{
		D{{"name", "A"}, {"ssn", "123-45-6789"}, {"diagnosis", "flu"}}}}})
	enc, err := c.EncryptCommand("hospital", cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !isEncrypted(enc, "documents.0.ssn") || !isEncrypted(enc, "documents.0.diagnosis") {
		t.Fatal("fields not encrypted")
	}
	if s, _ := lookupString(enc, "documents.0.name"); s != "A" {
		t.Fatal("unencrypted field changed")
	}
	_, doc, _ := lookup(enc, "documents.0")
	dec, err := c.DecryptDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := lookupString(dec, "ssn"); s != "123-45-6789" {
		t.Fatal("ssn did not decrypt")
	}
	if s, _ := lookupString(dec, "diagnosis"); s != "flu" {
		t.Fatal("diagnosis did not decrypt")
	}
}

func TestEncryptCommandRefused(t *testing.T) {
	c, _ := newClient(t)
	_, err := c.EncryptCommand("hospital", encodeDoc(D{{"find", "patients"}, {"filter", D{{"diagnosis", "flu"}}}}))
	wantCode(t, err, ErrSchema)
	if !strings.Contains(err.Error(), "diagnosis") {
		t.Fatalf("refusal does not name the field: %v", err)
	}
	_, err = c.EncryptCommand("hospital", []byte{5, 0, 0, 0, 1})
	wantCode(t, err, ErrBadData)
}

func TestEncryptDocumentAndAnalyze(t *testing.T) {
	c, _ := newClient(t)
	doc, err := c.EncryptDocument("hospital.patients", encodeDoc(D{{"ssn", "123-45-6789"}, {"age", int32(40)}}))
	if err != nil || !isEncrypted(doc, "ssn") {
		t.Fatalf("EncryptDocument: %v", err)
	}
	a, err := c.AnalyzeCommand("hospital", encodeDoc(D{{"find", "patients"}, {"filter", D{{"diagnosis", "x"}}}}))
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := lookupString(a, "error"); !ok || !strings.Contains(msg, "diagnosis") {
		t.Fatal("analysis did not report the refusal")
	}
	tampered := append([]byte(nil), doc...)
	_, v, _ := lookup(tampered, "ssn") // a subslice: flips a bit of the ciphertext in place
	v[len(v)-1] ^= 1
	_, err = c.DecryptDocument(tampered)
	wantCode(t, err, ErrAuthentication)
}
