package phicrypt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccessDenied(t *testing.T) {
	d, cfg := keyset(t, `, "access": {"roles": {"billing": {"purposes": ["PAYMENT"], "fields": ["ssn"], "keys": ["patients"]},
		"physician": {"purposes": ["TREATMENT"], "fields": ["*"]}}}`)
	_ = d
	logPath := filepath.Join(d, "audit.jsonl")
	cfg = cfg[:len(cfg)-1] + `, "audit": {"path": "` + logPath + `", "subject_field": "mrn"}}`
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err = c.CreateDataKey(DataKeyOptions{AltNames: []string{"patients"}}); err != nil {
		t.Fatal(err)
	}
	ssn, _ := c.Encrypt(encodeDoc(D{{"v", "123-45-6789"}}), EncryptOptions{KeyAltName: "patients"})
	dx, _ := c.Encrypt(encodeDoc(D{{"v", "flu"}}), EncryptOptions{KeyAltName: "patients", Algorithm: Random})
	billing := Session{Actor: "clerk-7", Role: "billing", Purpose: "PAYMENT", Subject: "MRN-0042"}
	err = c.AccessCheck(billing, "hospital.patients", "ssn")
	if errors.Is(err, ErrUnsupported) {
		t.Skip("access control not in this libphicrypt")
	}
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.AccessCheck(billing, "hospital.patients", "diagnosis"), ErrAccessDenied)
	pt, err := c.DecryptAs(billing, "hospital.patients", "ssn", ssn)
	if s, _ := lookupString(pt, "v"); err != nil || s != "123-45-6789" {
		t.Fatalf("DecryptAs: %v", err)
	}
	_, err = c.DecryptAs(billing, "hospital.patients", "diagnosis", dx)
	wantCode(t, err, ErrAccessDenied)
	_, err = c.DecryptAs(Session{Actor: "clerk-7", Role: "billing"}, "", "ssn", ssn)
	wantCode(t, err, ErrInvalidArgument) // a purpose is required
	_, sv, _ := lookup(ssn, "v")
	_, dv, _ := lookup(dx, "v")
	doc := encodeDoc(D{{"ssn", binData{6, sv[5:]}}, {"diagnosis", binData{6, dv[5:]}}})
	out, err := c.DecryptDocumentAs(billing, "hospital.patients", doc)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := lookupString(out, "ssn"); s != "123-45-6789" || !isEncrypted(out, "diagnosis") {
		t.Fatal("minimum necessary not applied")
	}
	out, err = c.DecryptDocumentAs(Session{Actor: "dr-1", Role: "physician", Purpose: "TREATMENT"}, "", doc)
	if s, _ := lookupString(out, "diagnosis"); err != nil || s != "flu" {
		t.Fatalf("physician: %v", err)
	}

	// The audit log recorded the disclosures, under a pseudonymous subject, with an intact chain.
	rep, err := c.AuditVerify("")
	if err != nil || !strings.HasPrefix(rep, "intact") {
		t.Fatalf("AuditVerify: %v %q", err, rep)
	}
	sid, err := c.AuditSubjectID("MRN-0042")
	if err != nil || !strings.HasPrefix(sid, "sub1.") {
		t.Fatalf("AuditSubjectID: %v", err)
	}
	acc, err := c.AuditDisclosures("MRN-0042", 0)
	if s, _ := lookupString(acc, "subject"); err != nil || s != sid {
		t.Fatalf("AuditDisclosures: %v", err)
	}
	if _, _, ok := lookup(acc, "disclosures.0"); !ok {
		t.Fatal("no disclosure recorded")
	}
	raw, _ := os.ReadFile(logPath)
	if strings.Contains(string(raw), "MRN-0042") || strings.Contains(string(raw), "123-45-6789") {
		t.Fatal("PHI in the audit log")
	}
	lines := strings.SplitAfter(string(raw), "\n")
	os.WriteFile(logPath, []byte(strings.Join(append(lines[:1], lines[2:]...), "")), 0o600)
	if _, err = c.AuditVerify(logPath); !errors.Is(err, ErrAuthentication) && !errors.Is(err, ErrBadData) {
		t.Fatalf("a deleted line was not detected: %v", err)
	}
}
