package phicrypt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testPolicy = `{"version": 1, "unknown_fields": "keep", "fields": {
	"name": {"action": "redact"}, "phone": {"action": "mask", "keep_last": 4},
	"zip": {"action": "zip3"}, "age": {"action": "age"}, "secret": {"action": "drop"}}}`

func deidSetup(t *testing.T) (*Client, *Policy, string) {
	t.Helper()
	c, _ := newClient(t)
	p, err := c.NewPolicy(testPolicy)
	if errors.Is(err, ErrUnsupported) {
		t.Skip("de-identification not in this libphicrypt")
	}
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	var b strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `{"_id": %d, "name": "Patient %d", "phone": "555-010-%04d", "zip": "02139", "age": %d, "secret": "x", "note": "kept"}`+"\n",
			i, i, i, 70+i)
	}
	in := filepath.Join(d, "in.jsonl")
	os.WriteFile(in, []byte(b.String()), 0o600)
	return c, p, in
}

func TestDeidentifyFile(t *testing.T) {
	c, p, in := deidSetup(t)
	defer p.Close()
	out1, out2 := in+".1.jsonl", in+".2.jsonl"
	rep, err := c.DeidentifyFile(p, in, out1, DeidOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep, `"records_out"`) {
		t.Fatalf("report: %s", rep)
	}
	if _, err = c.DeidentifyFile(p, in, out2, DeidOptions{Format: FormatJSONL}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out1)
	b, _ := os.ReadFile(out2)
	if string(a) != string(b) || strings.Contains(string(a), "Patient 1") || strings.Contains(string(a), "secret") {
		t.Fatal("output wrong or thread-count dependent")
	}
	line, err := c.DeidentifyJSON(p, `{"name": "Jane", "note": "n"}`)
	if err != nil || strings.Contains(line, "Jane") {
		t.Fatalf("DeidentifyJSON: %v", err)
	}
}

func TestDeidentifyErrors(t *testing.T) {
	c, p, in := deidSetup(t)
	_, err := c.NewPolicy(`{"version": 1, "fields": {"dob": {"action": "shred"}}}`)
	wantCode(t, err, ErrInvalidArgument)
	bad := in + ".bad.jsonl"
	os.WriteFile(bad, []byte("{\"name\": \"x\"}\n{not json\n"), 0o600)
	_, err = c.DeidentifyFile(p, bad, bad+".out.jsonl", DeidOptions{})
	wantCode(t, err, ErrBadData)
	if _, serr := os.Stat(bad + ".out.jsonl"); serr == nil {
		t.Fatal("partial output left behind")
	}
	_, err = c.DeidentifyFile(p, in+".missing.jsonl", in+".o.jsonl", DeidOptions{})
	wantCode(t, err, ErrIO)
	// Closing the client frees its policies; the policy then reports ErrClosed.
	c.Close()
	_, err = c.DeidentifyFile(p, in, in+".o.jsonl", DeidOptions{})
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("after client Close: %v", err)
	}
	p.Close()
	p.Close()
}

func TestReidentifyFile(t *testing.T) {
	c := keyringClient(t)
	p, err := c.NewPolicy(`{"version": 1, "unknown_fields": "keep", "fields": {
		"ssn": {"action": "tokenize", "key": "tok:ssn", "format": "ssn", "context": "ssn"}}}`)
	if errors.Is(err, ErrUnsupported) {
		t.Skip("de-identification not in this libphicrypt")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	d := t.TempDir()
	in, mid, out := filepath.Join(d, "in.jsonl"), filepath.Join(d, "mid.jsonl"), filepath.Join(d, "out.jsonl")
	src := "{\"ssn\": \"123-45-6789\"}\n{\"ssn\": \"987-65-4321\"}\n"
	os.WriteFile(in, []byte(src), 0o600)
	if _, err = c.DeidentifyFile(p, in, mid, DeidOptions{}); err != nil {
		t.Fatal(err)
	}
	if m, _ := os.ReadFile(mid); strings.Contains(string(m), "123-45-6789") {
		t.Fatal("not tokenized")
	}
	_, err = c.ReidentifyFile(p, mid, out, DeidOptions{})
	if errors.Is(err, ErrUnsupported) {
		t.Skip("re-identification not in this libphicrypt")
	}
	if err != nil {
		t.Fatal(err)
	}
	back, _ := os.ReadFile(out)
	if !strings.Contains(string(back), "123-45-6789") || !strings.Contains(string(back), "987-65-4321") {
		t.Fatalf("re-identified: %q", back)
	}
}
