package phicrypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// keyset makes a local master key, an empty key vault and keyring; returns
// the directory and a configuration (plus extra top-level JSON members).
func keyset(t *testing.T, extra string) (string, string) {
	t.Helper()
	d := t.TempDir()
	if err := CreateLocalKeyFile(filepath.Join(d, "master.key")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"keyvault.jsonl", "keyring.jsonl"} {
		if err := os.WriteFile(filepath.Join(d, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fmt.Sprintf(`{"kms_providers": {"local": {"key_file": %q}}, "key_vault": "file:%s",
		"keyring": "file:%s"%s}`, filepath.Join(d, "master.key"), filepath.Join(d, "keyvault.jsonl"),
		filepath.Join(d, "keyring.jsonl"), extra)
	return d, cfg
}

// newClient: a client with a data key "patients" and a schema map for
// hospital.patients (ssn deterministic, diagnosis random).
func newClient(t *testing.T) (*Client, KeyID) {
	t.Helper()
	_, cfg := keyset(t, "")
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateDataKey(DataKeyOptions{AltNames: []string{"patients"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	schema := fmt.Sprintf(`, "schema_map": {"hospital.patients": {"bsonType": "object",
		"encryptMetadata": {"keyId": [{"$binary": {"base64": %q, "subType": "04"}}]},
		"properties": {"ssn": {"encrypt": {"bsonType": "string", "algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Deterministic"}},
		               "diagnosis": {"encrypt": {"algorithm": "AEAD_AES_256_CBC_HMAC_SHA_512-Random"}}}}}`,
		base64.StdEncoding.EncodeToString(id[:]))
	cfg = strings.TrimSuffix(cfg, "}") + schema + "}"
	c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, id
}

func wantCode(t *testing.T, err error, sentinel *Error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %v", err, sentinel.Code)
	}
	var e *Error
	if !errors.As(err, &e) || e.Message == "" || e.Code != sentinel.Code {
		t.Fatalf("not an *Error with a message: %#v", err)
	}
}

func TestVersion(t *testing.T) {
	if Version() == "" || MongocryptVersion() == "" {
		t.Fatal("empty version")
	}
	if Strerror(CodeKeyNotFound) == "unknown error code" || Strerror(-999) != "unknown error code" {
		t.Fatal("strerror")
	}
}

func TestNewBadConfig(t *testing.T) {
	_, err := New(`{"kms_providers": {"local": {"keyfile": "x"}}}`)
	wantCode(t, err, ErrConfig)
	if !strings.Contains(err.Error(), "keyfile") {
		t.Fatalf("message does not name the key: %v", err)
	}
	if _, err = New(`{not json`); err == nil {
		t.Fatal("accepted bad JSON")
	}
	if _, err = NewFromFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("accepted a missing file")
	}
}

func TestNewFromFile(t *testing.T) {
	d, _ := keyset(t, "")
	p := filepath.Join(d, "phicrypt.json")
	os.WriteFile(p, []byte(`{"kms_providers": {"local": {"key_file": "master.key"}}, "key_vault": "file:keyvault.jsonl"}`), 0o600)
	c, err := NewFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateDataKey(DataKeyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	e := newError(int(CodeKeyNotFound), "m")
	if !errors.Is(e, ErrKeyNotFound) || errors.Is(e, ErrAuthentication) {
		t.Fatal("errors.Is does not match on the code")
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), ErrKeyNotFound) {
		t.Fatal("wrapped error lost its code")
	}
	inval := newError(int(CodeInvalidArgument), "bad option")
	if errors.Is(inval, ErrClosed) || !errors.Is(ErrClosed, ErrClosed) || !errors.Is(ErrClosed, ErrInvalidArgument) {
		t.Fatal("ErrClosed must match only itself (and the invalid-argument class)")
	}
}

func TestCloseIdempotent(t *testing.T) {
	_, cfg := keyset(t, "")
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	_, err = c.ListDataKeys()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestFinalizerClosesForgottenClients(t *testing.T) {
	_, cfg := keyset(t, "")
	before := finalized.Load()
	for i := 0; i < 64; i++ {
		if _, err := New(cfg); err != nil {
			t.Fatal(err)
		}
	}
	kept, _ := New(cfg)
	kept.Close() // closed explicitly: its finalizer is removed
	deadline := time.Now().Add(10 * time.Second)
	for finalized.Load()-before < 64 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 64 forgotten clients were finalized", finalized.Load()-before)
		}
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
}
