package secret_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/secret"
)

func newSealer(t *testing.T, current []byte, old ...[]byte) *secret.Sealer {
	t.Helper()
	s, err := secret.NewSealer(current, old...)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func seal(t *testing.T, s *secret.Sealer, plain string) string {
	t.Helper()
	sealed, err := s.Seal([]byte(plain))
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sealed
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	key := secret.GenerateKey()
	s := newSealer(t, key)
	for _, plain := range []string{"tok-SECRET-123", "", strings.Repeat("x", 10000), "ünïcødé\x00bytes"} {
		sealed := seal(t, s, plain)
		wantPrefix := "v1:" + secret.KeyID(key) + ":"
		if !strings.HasPrefix(sealed, wantPrefix) {
			t.Errorf("sealed form: got %q, want prefix %q", sealed, wantPrefix)
		}
		if plain != "" && strings.Contains(sealed, plain) {
			t.Errorf("sealed form %q contains the plaintext", sealed)
		}
		for _, r := range sealed {
			if r < '!' || r > '~' {
				t.Errorf("sealed form %q has unprintable or space character %q", sealed, r)
				break
			}
		}
		got, err := s.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if string(got) != plain {
			t.Errorf("Open: got %q, want %q", got, plain)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	t.Parallel()
	s := newSealer(t, secret.GenerateKey())
	if a, b := seal(t, s, "same"), seal(t, s, "same"); a == b {
		t.Errorf("two seals of one plaintext: got the same %q twice, want different nonces", a)
	}
}

func TestOpenWrongKey(t *testing.T) {
	t.Parallel()
	keyA, keyB := secret.GenerateKey(), secret.GenerateKey()
	sealed := seal(t, newSealer(t, keyA), "tok")
	_, err := newSealer(t, keyB).Open(sealed)
	if !errors.Is(err, secret.ErrWrongKey) {
		t.Fatalf("Open with another key: got %v, want ErrWrongKey", err)
	}
	for _, want := range []string{secret.KeyID(keyA), secret.KeyID(keyB), "JENKINDS_SECRET_KEY", "secret.key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("wrong-key error: got %q, want it to mention %q", err, want)
		}
	}
}

func TestOpenTampered(t *testing.T) {
	t.Parallel()
	s := newSealer(t, secret.GenerateKey())
	sealed := seal(t, s, "tok-SECRET-123")
	i := strings.LastIndexByte(sealed, ':')
	head, body := sealed[:i+1], sealed[i+1:]
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	// Flip one bit in the nonce, the ciphertext and the tag.
	for _, pos := range []int{0, 12, len(raw) - 1} {
		bad := bytes.Clone(raw)
		bad[pos] ^= 0x01
		_, err := s.Open(head + base64.RawURLEncoding.EncodeToString(bad))
		if !errors.Is(err, secret.ErrTampered) {
			t.Errorf("Open with byte %d flipped: got %v, want ErrTampered", pos, err)
		}
	}
}

func TestOpenMalformed(t *testing.T) {
	t.Parallel()
	key := secret.GenerateKey()
	s := newSealer(t, key)
	id := secret.KeyID(key)
	for _, in := range []string{
		"",
		"tok-SECRET-123",
		"v1",
		"v1:" + id,
		"v2:" + id + ":AAAA",
		"v1::AAAA",
		"v1:" + id + ":not base64!",
		"v1:" + id + ":AAAA", // shorter than nonce and tag
	} {
		_, err := s.Open(in)
		if !errors.Is(err, secret.ErrMalformed) {
			t.Errorf("Open(%q): got %v, want ErrMalformed", in, err)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
	sealedOld := seal(t, newSealer(t, oldKey), "old-token")

	rotating := newSealer(t, newKey, oldKey)
	got, err := rotating.Open(sealedOld)
	if err != nil {
		t.Fatalf("Open old secret during rotation: %v", err)
	}
	if string(got) != "old-token" {
		t.Errorf("Open old secret: got %q, want %q", got, "old-token")
	}
	if got, want := rotating.KeyID(), secret.KeyID(newKey); got != want {
		t.Errorf("KeyID: got %q, want the new key's %q", got, want)
	}
	resealed := seal(t, rotating, string(got))
	if !strings.HasPrefix(resealed, "v1:"+secret.KeyID(newKey)+":") {
		t.Errorf("reseal: got %q, want it sealed under the new key", resealed)
	}
	if _, err := newSealer(t, newKey).Open(resealed); err != nil {
		t.Errorf("Open resealed with the new key alone: %v", err)
	}
	if _, err := newSealer(t, oldKey).Open(resealed); !errors.Is(err, secret.ErrWrongKey) {
		t.Errorf("Open resealed with the old key: got %v, want ErrWrongKey", err)
	}
}

func TestNewSealerRejectsBadKeys(t *testing.T) {
	t.Parallel()
	good := secret.GenerateKey()
	for _, tt := range []struct {
		name    string
		current []byte
		old     [][]byte
	}{
		{"nil", nil, nil},
		{"short", make([]byte, 16), nil},
		{"long", make([]byte, 33), nil},
		{"bad old key", good, [][]byte{make([]byte, 31)}},
	} {
		if _, err := secret.NewSealer(tt.current, tt.old...); err == nil {
			t.Errorf("NewSealer(%s): got no error, want one", tt.name)
		}
	}
}

func TestGenerateKeyAndKeyID(t *testing.T) {
	t.Parallel()
	a, b := secret.GenerateKey(), secret.GenerateKey()
	if len(a) != secret.KeySize {
		t.Errorf("GenerateKey length: got %d, want %d", len(a), secret.KeySize)
	}
	if bytes.Equal(a, b) {
		t.Errorf("GenerateKey twice: got the same key")
	}
	// SHA-256 of 32 zero bytes starts 66687aad.
	if got, want := secret.KeyID(make([]byte, 32)), "66687aad"; got != want {
		t.Errorf("KeyID(zero key): got %q, want %q", got, want)
	}
	if secret.KeyID(a) == secret.KeyID(b) {
		t.Errorf("KeyID of two keys: got the same %q", secret.KeyID(a))
	}
}
