package phicrypt

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// One client, 8 goroutines, every result checked; each goroutine sees its own error messages.
func TestEightGoroutinesOneClient(t *testing.T) {
	c, _ := newClient(t)
	tokens := c.CreateTokenKey("tok:ssn", KeyringFF1) == nil
	fixed, _ := c.Encrypt(encodeDoc(D{{"v", "000-00-0000"}}), EncryptOptions{KeyAltName: "patients"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				value := fmt.Sprintf("%03d-%02d-%04d", g, i/100, i)
				v := encodeDoc(D{{"v", value}})
				ct, err := c.Encrypt(v, EncryptOptions{KeyAltName: "patients"})
				if err != nil {
					errs <- err
					return
				}
				pt, err := c.Decrypt(ct)
				if err != nil || string(pt) != string(v) {
					errs <- fmt.Errorf("goroutine %d: wrong round trip (%v)", g, err)
					return
				}
				again, _ := c.Encrypt(encodeDoc(D{{"v", "000-00-0000"}}), EncryptOptions{KeyAltName: "patients"})
				if string(again) != string(fixed) {
					errs <- fmt.Errorf("goroutine %d: deterministic mismatch", g)
					return
				}
				missing := fmt.Sprintf("missing-%d", g)
				_, err = c.Encrypt(v, EncryptOptions{KeyAltName: missing})
				if !errors.Is(err, ErrKeyNotFound) || strings.Contains(err.Error(), value) {
					errs <- fmt.Errorf("goroutine %d: error %v", g, err)
					return
				}
				if tokens {
					tok, err := c.Tokenize("tok:ssn", value, TokenOptions{Format: "ssn"})
					if err != nil {
						errs <- err
						return
					}
					if back, err := c.Detokenize("tok:ssn", tok, TokenOptions{Format: "ssn"}); err != nil || back != value {
						errs <- fmt.Errorf("goroutine %d: detokenize (%v)", g, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Close waits for calls in flight and later calls fail cleanly.
func TestCloseWhileInUse(t *testing.T) {
	c, _ := newClient(t)
	v := encodeDoc(D{{"v", "x"}})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Encrypt(v, EncryptOptions{KeyAltName: "patients"}); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	c.Close()
	wg.Wait()
}
