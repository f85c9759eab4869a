package phicrypt

import (
	"bytes"
	"errors"
	"testing"
)

func TestDataKeys(t *testing.T) {
	c, id := newClient(t)
	doc, err := c.GetDataKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := lookup(doc, "keyMaterial"); ok {
		t.Fatal("key material returned")
	}
	byName, err := c.GetDataKeyByAltName("patients")
	if err != nil || !bytes.Equal(doc, byName) {
		t.Fatalf("by alt name: %v", err)
	}
	_, err = c.CreateDataKey(DataKeyOptions{AltNames: []string{"patients"}})
	wantCode(t, err, ErrExists)
	id2, err := c.CreateDataKey(DataKeyOptions{Provider: "local", AltNames: []string{"a", "b"},
		KeyMaterial: bytes.Repeat([]byte{7}, 96)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateDataKey(DataKeyOptions{KeyMaterial: []byte{1}})
	wantCode(t, err, ErrInvalidArgument)
	list, err := c.ListDataKeys()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := lookup(list, "keys.1"); !ok {
		t.Fatal("list lacks the second key")
	}
	if err = c.AddKeyAltName(id2, "c"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.KeyIDByAltName("c"); err != nil || got != id2 {
		t.Fatalf("KeyIDByAltName: %v", err)
	}
	wantCode(t, c.AddKeyAltName(id2, "patients"), ErrExists)
	if err = c.RemoveKeyAltName(id2, "c"); err != nil {
		t.Fatal(err)
	}
	_, err = c.KeyIDByAltName("c")
	wantCode(t, err, ErrKeyNotFound)
	ct, _ := c.Encrypt(encodeDoc(D{{"v", "x"}}), EncryptOptions{KeyID: id2[:]})
	if err = c.DeleteDataKey(id2); err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.DeleteDataKey(id2), ErrKeyNotFound)
	_, err = c.Decrypt(ct)
	wantCode(t, err, ErrKeyNotFound)
	_, err = c.GetDataKey(KeyID{})
	wantCode(t, err, ErrKeyNotFound)
}

func TestRewrapDataKeys(t *testing.T) {
	c, _ := newClient(t)
	ct, _ := c.Encrypt(encodeDoc(D{{"v", "123-45-6789"}}), EncryptOptions{KeyAltName: "patients"})
	if _, err := c.CreateDataKey(DataKeyOptions{AltNames: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	n, err := c.RewrapDataKeys(`{"keyAltNames": "patients"}`, "", "")
	if errors.Is(err, ErrUnsupported) {
		t.Skip("rewrap not in this libphicrypt")
	}
	if err != nil || n != 1 {
		t.Fatalf("rewrap one: %d %v", n, err)
	}
	if n, err = c.RewrapDataKeys("", "local", ""); err != nil || n != 2 {
		t.Fatalf("rewrap all: %d %v", n, err)
	}
	if pt, err := c.Decrypt(ct); err != nil || !bytes.Equal(pt, encodeDoc(D{{"v", "123-45-6789"}})) {
		t.Fatalf("decrypt after rewrap: %v", err)
	}
	if _, err = c.RewrapDataKeys(`{"$where": "1"}`, "", ""); err == nil {
		t.Fatal("accepted an unsupported filter operator")
	}
}
