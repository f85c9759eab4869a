package phicrypt

// Minimum necessary through the Go binding: relabelled ciphertexts, tokens and
// keys are denied and audited as denied; plain calls need a session; an
// unwritable audit log stops every disclosure.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	atSSN   = "123-45-6789"
	atDX    = "Type 2 diabetes mellitus"
	atMRN   = "MRN-4711"
	atPhone = "617-555-0100"
	atPol   = `{"version": 1, "unknown_fields": "keep", "fields": {"ssn": {"action": "tokenize", "key": "tok:ssn"},
		"mrn": {"action": "tokenize", "key": "tok:mrn"}, "phone": {"action": "tokenize", "key": "tok:phone", "format": "phone"}}}`
)

var (
	atBilling   = Session{Actor: "clerk", Role: "billing", Purpose: "PAYMENT"}
	atPhysician = Session{Actor: "drh", Role: "physician", Purpose: "TREATMENT"}
)

type attackWorld struct {
	dir, base, cfg, log string // base: no access, no audit
}

func uuidText(id KeyID) string {
	h := fmt.Sprintf("%x", id[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newAttackWorld: k_ssn bound to ssn, k_dx to diagnosis; billing may see ssn
// and mrn and use tok:ssn, tok:mrn; the physician sees everything.
func newAttackWorld(t *testing.T) attackWorld {
	t.Helper()
	d, base := keyset(t, "")
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	kssn, err1 := c.CreateDataKey(DataKeyOptions{AltNames: []string{"k_ssn"}})
	kdx, err2 := c.CreateDataKey(DataKeyOptions{AltNames: []string{"k_dx"}})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for _, k := range []string{"tok:ssn", "tok:dx", "tok:mrn"} {
		if err := c.CreateTokenKey(k, KeyringSIV); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CreateTokenKey("tok:phone", KeyringFF1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	enc := func(id KeyID, alg string) string {
		return fmt.Sprintf(`{"encrypt": {"keyId": [{"$uuid": %q}], "bsonType": "string",
			"algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-%s"}}`, uuidText(id), alg)
	}
	log := filepath.Join(d, "audit.jsonl")
	cfg := strings.TrimSuffix(base, "}") + fmt.Sprintf(`, "schema_map": {"hospital.patients": {"bsonType": "object",
		"properties": {"ssn": %s, "diagnosis": %s}}},
		"access": {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn", "mrn"], "keys": ["tok:ssn", "tok:mrn"]},
		                     "physician": {"purposes": ["TREATMENT"], "fields": ["*"]}}},
		"audit": {"path": %q, "subject_field": "mrn"}}`, enc(kssn, "Deterministic"), enc(kdx, "Random"), log)
	return attackWorld{d, base, cfg, log}
}

func (w attackWorld) client(t *testing.T, cfg string) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (w attackWorld) lastLine(t *testing.T) map[string]interface{} {
	t.Helper()
	b, err := os.ReadFile(w.log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var m map[string]interface{}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (w attackWorld) wantDenied(t *testing.T, field string) {
	t.Helper()
	m := w.lastLine(t)
	if m["outcome"] != "denied" {
		t.Fatalf("last audit line is not a denial: %v", m["outcome"])
	}
	if field != "" && !strings.Contains(fmt.Sprint(m["denied_fields"]), field) {
		t.Fatalf("denied_fields %v lacks %s", m["denied_fields"], field)
	}
	if s := fmt.Sprint(m); strings.Contains(s, atDX) || strings.Contains(s, atSSN) {
		t.Fatal("PHI in the audit line")
	}
}

func (w attackWorld) ct(t *testing.T, c *Client, v, key string) []byte {
	t.Helper()
	ct, err := c.Encrypt(encodeDoc(D{{"v", v}}), EncryptOptions{KeyAltName: key, Algorithm: Random})
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func bin6(t *testing.T, ct []byte) binData {
	t.Helper()
	_, v, ok := lookup(ct, "v")
	if !ok {
		t.Fatal("no v")
	}
	return binData{6, v[5:]}
}

func TestAccessAttackRelabelExplicitDecrypt(t *testing.T) {
	w := newAttackWorld(t)
	c := w.client(t, w.cfg)
	dx := w.ct(t, c, atDX, "k_dx")
	out, err := c.DecryptAs(atBilling, "hospital.patients", "ssn", dx)
	wantCode(t, err, ErrAccessDenied)
	if out != nil || strings.Contains(err.Error(), atDX) {
		t.Fatal("plaintext leaked")
	}
	w.wantDenied(t, "ssn")
	pt, err := c.DecryptAs(atBilling, "hospital.patients", "ssn", w.ct(t, c, atSSN, "k_ssn"))
	if s, _ := lookupString(pt, "v"); err != nil || s != atSSN {
		t.Fatalf("genuine ssn: %v", err)
	}
}

func TestAccessAttackRelabelDecryptDocument(t *testing.T) {
	w := newAttackWorld(t)
	c := w.client(t, w.cfg)
	dx := bin6(t, w.ct(t, c, atDX, "k_dx"))
	ssn := bin6(t, w.ct(t, c, atSSN, "k_ssn"))
	for name, doc := range map[string]D{
		"moved":    {{"mrn", atMRN}, {"ssn", dx}},
		"copied":   {{"ssn", ssn}, {"diagnosis", dx}, {"mrn", dx}},
		"nested":   {{"ssn", D{{"x", dx}}}},
		"in_array": {{"ssn", ssn}, {"mrn", []interface{}{dx}}},
	} {
		out, err := c.DecryptDocumentAs(atBilling, "hospital.patients", encodeDoc(doc))
		if out != nil {
			t.Fatalf("%s: output returned", name)
		}
		wantCode(t, err, ErrAccessDenied)
		w.wantDenied(t, "")
	}
}

func TestAccessAttackDetokenizeOtherFieldsToken(t *testing.T) {
	w := newAttackWorld(t)
	c := w.client(t, w.cfg)
	tok, err := c.Tokenize("tok:dx", atDX, TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DetokenizeAs(atBilling, "hospital.patients", "ssn", "tok:dx", tok, TokenOptions{})
	wantCode(t, err, ErrAccessDenied)
	w.wantDenied(t, "ssn")
	if v, err := c.DetokenizeAs(atBilling, "", "ssn", "tok:ssn", tok, TokenOptions{}); err == nil || v != "" {
		t.Fatal("billing's own key opened the diagnosis token")
	}
}

func (w attackWorld) deid(t *testing.T, policy, plain string) string {
	t.Helper()
	etl := w.client(t, w.base)
	p, err := etl.NewPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in, out := filepath.Join(w.dir, "plain.jsonl"), filepath.Join(w.dir, "deid.jsonl")
	if err := os.WriteFile(in, []byte(plain), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := etl.DeidentifyFile(p, in, out, DeidOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w attackWorld) reid(t *testing.T, c *Client, s Session, policy, in, out string) (string, error) {
	t.Helper()
	p, err := c.NewPolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return c.ReidentifyFileAs(s, "", p, in, out, DeidOptions{Format: FormatJSONL})
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists", path)
	}
}

func TestAccessAttackReidPolicyNamesOtherKey(t *testing.T) {
	w := newAttackWorld(t)
	bad := `{"version": 1, "unknown_fields": "keep", "fields": {"ssn": {"action": "tokenize", "key": "tok:dx"}}}`
	in := w.deid(t, bad, `{"ssn":"`+atDX+`"}`+"\n")
	c := w.client(t, w.cfg)
	out := filepath.Join(w.dir, "reid.jsonl")
	_, err := w.reid(t, c, atBilling, bad, in, out)
	wantCode(t, err, ErrAccessDenied)
	mustNotExist(t, out)
	w.wantDenied(t, "ssn")
}

func TestAccessAttackPartialReid(t *testing.T) {
	w := newAttackWorld(t)
	in := w.deid(t, atPol, fmt.Sprintf(`{"ssn":%q,"mrn":%q,"phone":%q}`+"\n", atSSN, atMRN, atPhone))
	c := w.client(t, w.cfg)
	out := filepath.Join(w.dir, "reid.jsonl")
	rep, err := w.reid(t, c, atBilling, atPol, in, out)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), atSSN) || !strings.Contains(string(b), atMRN) || strings.Contains(string(b), atPhone) {
		t.Fatal("partial reid restored the wrong fields")
	}
	if !strings.Contains(rep, `"withheld_fields":["phone"]`) {
		t.Fatalf("report: %s", rep)
	}
	os.Remove(out)
	_, err = w.reid(t, c, Session{Actor: "clerk", Role: "billing", Purpose: "TREATMENT"}, atPol, in, out)
	wantCode(t, err, ErrAccessDenied)
	mustNotExist(t, out)
}

func TestAccessAttackPlainCallsNeedSession(t *testing.T) {
	w := newAttackWorld(t)
	in := w.deid(t, atPol, fmt.Sprintf(`{"ssn":%q,"mrn":%q,"phone":%q}`+"\n", atSSN, atMRN, atPhone))
	c := w.client(t, w.cfg)
	ssn := w.ct(t, c, atSSN, "k_ssn")
	_, err := c.Decrypt(ssn)
	wantCode(t, err, ErrAccessDenied)
	_, err = c.DecryptDocument(encodeDoc(D{{"ssn", bin6(t, ssn)}}))
	wantCode(t, err, ErrAccessDenied)
	tok, _ := c.Tokenize("tok:ssn", atSSN, TokenOptions{})
	_, err = c.Detokenize("tok:ssn", tok, TokenOptions{})
	wantCode(t, err, ErrAccessDenied)
	p, _ := c.NewPolicy(atPol)
	defer p.Close()
	out := filepath.Join(w.dir, "plain.out.jsonl")
	_, err = c.ReidentifyFile(p, in, out, DeidOptions{})
	wantCode(t, err, ErrAccessDenied)
	mustNotExist(t, out)
	w.wantDenied(t, "")
}

func TestAccessAttackUnwritableLogStopsDisclosure(t *testing.T) {
	w := newAttackWorld(t)
	in := w.deid(t, atPol, fmt.Sprintf(`{"ssn":%q,"mrn":%q,"phone":%q}`+"\n", atSSN, atMRN, atPhone))
	gone := filepath.Join(w.dir, "gone")
	os.Mkdir(gone, 0o700)
	os.Remove(gone)
	isdir := filepath.Join(w.dir, "isdir")
	os.Mkdir(isdir, 0o700)
	paths := []string{"/dev/full", filepath.Join(gone, "audit.jsonl"), isdir}
	if os.Geteuid() != 0 { // root writes a read-only file anyway
		ro := filepath.Join(w.dir, "ro.jsonl")
		os.WriteFile(ro, nil, 0o400)
		paths = append(paths, ro)
	}
	etl := w.client(t, w.base)
	ssn := w.ct(t, etl, atSSN, "k_ssn")
	tok, _ := etl.Tokenize("tok:ssn", atSSN, TokenOptions{})
	for _, lp := range paths {
		for _, withAccess := range []bool{true, false} {
			cfg := strings.Replace(w.cfg, fmt.Sprintf("%q", w.log), fmt.Sprintf("%q", lp), 1)
			if !withAccess {
				i := strings.Index(cfg, `"access":`)
				j := strings.Index(cfg, `"audit":`)
				cfg = cfg[:i] + cfg[j:]
			}
			c := w.client(t, cfg)
			out := filepath.Join(w.dir, "reid.jsonl")
			_, err := c.DecryptAs(atPhysician, "", "ssn", ssn)
			wantCode(t, err, ErrIO)
			_, err = c.DecryptDocumentAs(atPhysician, "", encodeDoc(D{{"ssn", bin6(t, ssn)}}))
			wantCode(t, err, ErrIO)
			_, err = c.DetokenizeAs(atPhysician, "", "ssn", "tok:ssn", tok, TokenOptions{})
			wantCode(t, err, ErrIO)
			_, err = w.reid(t, c, atPhysician, atPol, in, out)
			wantCode(t, err, ErrIO)
			mustNotExist(t, out)
			_, err = w.reid(t, c, atPhysician, atPol, in, "/dev/stdout")
			wantCode(t, err, ErrIO)
			if !withAccess {
				_, err = c.Decrypt(ssn)
				wantCode(t, err, ErrIO)
				_, err = c.Detokenize("tok:ssn", tok, TokenOptions{})
				wantCode(t, err, ErrIO)
			}
		}
	}
}

func TestAccessAttackSessionStrings(t *testing.T) {
	w := newAttackWorld(t)
	c := w.client(t, w.cfg)
	ssn := w.ct(t, c, atSSN, "k_ssn")
	before, _ := os.ReadFile(w.log)
	for _, bad := range []string{"cl\xffrk", "cl\nerk", strings.Repeat("a", 257), "\u0085x"} {
		_, err := c.DecryptAs(Session{Actor: bad, Role: "billing", Purpose: "PAYMENT"}, "", "ssn", ssn)
		wantCode(t, err, ErrInvalidArgument)
		_, err = c.DecryptAs(atBilling, bad, "ssn", ssn)
		wantCode(t, err, ErrInvalidArgument)
	}
	after, _ := os.ReadFile(w.log)
	if string(before) != string(after) {
		t.Fatal("a refused session wrote to the audit log")
	}
}
