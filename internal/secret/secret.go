// Package secret seals secrets at rest — Jenkins API tokens today, private
// keys later — with AES-256-GCM under one server key.
//
// A sealed secret is printable text, safe in a TEXT column:
//
//	v1:<keyID>:<base64url(nonce | ciphertext | tag)>
//
// keyID is the first 8 hex digits of the SHA-256 of the key, so a secret
// sealed under another key is told apart from a damaged one (ErrWrongKey vs
// ErrTampered), and a key rotation can keep old keys for opening only. The
// version and key ID are authenticated as GCM additional data: editing either
// makes Open fail.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

const version = "v1"

var (
	// ErrWrongKey means the secret was sealed under a key this server does
	// not hold.
	ErrWrongKey = errors.New("sealed with a different key: start with the JENKINDS_SECRET_KEY or secret.key file that sealed it (rotation keeps the old key for opening)")
	// ErrTampered means the sealed text names a known key but does not
	// authenticate: it was altered or damaged.
	ErrTampered = errors.New("sealed secret failed authentication: it was altered or damaged")
	// ErrMalformed means the text is not a sealed secret at all.
	ErrMalformed = errors.New("not a sealed secret: want v1:<keyID>:<base64>")
)

// Sealer seals with one current key and opens with it or any older key.
// It is safe for concurrent use.
type Sealer struct {
	current string // key ID
	keys    map[string]cipher.AEAD
}

// NewSealer returns a Sealer that seals with current and opens secrets sealed
// under current or any of old. Every key must be KeySize bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	s := &Sealer{keys: map[string]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, old...) {
		if len(key) != KeySize {
			return nil, fmt.Errorf("new sealer: key %d is %d bytes, want %d", i, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("new sealer: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("new sealer: %w", err)
		}
		id := KeyID(key)
		if i == 0 {
			s.current = id
		}
		s.keys[id] = aead
	}
	return s, nil
}

// KeyID is the short fingerprint of key that sealed secrets carry: the first
// 8 hex digits of its SHA-256. It is safe to log.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// KeyID returns the ID of the key s seals with.
func (s *Sealer) KeyID() string { return s.current }

// additionalData binds the ciphertext to its version and key ID.
func additionalData(keyID string) []byte { return []byte("jenkinds-secret:" + version + ":" + keyID) }

// Seal encrypts plain under the current key with a fresh random nonce. Its
// error is always nil; it is there for sealers that call out (a KMS), so
// callers' interfaces need not change.
func (s *Sealer) Seal(plain []byte) (string, error) {
	aead := s.keys[s.current]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(buf) // never fails: crypto/rand crashes the program instead
	buf = aead.Seal(buf, buf, plain, additionalData(s.current))
	return version + ":" + s.current + ":" + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts a secret sealed by Seal under any key s holds. Its errors
// wrap ErrMalformed, ErrWrongKey or ErrTampered.
func (s *Sealer) Open(sealed string) ([]byte, error) {
	v, rest, ok1 := strings.Cut(sealed, ":")
	keyID, body, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || v != version || keyID == "" {
		return nil, fmt.Errorf("open secret: %w", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w", ErrMalformed)
	}
	aead, ok := s.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("open secret sealed with key %s, this server's key is %s: %w", keyID, s.current, ErrWrongKey)
	}
	if len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open secret: too short: %w", ErrMalformed)
	}
	nonce, ciphertext := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ciphertext, additionalData(keyID))
	if err != nil {
		return nil, fmt.Errorf("open secret sealed with key %s: %w", keyID, ErrTampered)
	}
	return plain, nil
}

// GenerateKey returns a new random key of KeySize bytes.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	return key
}

// EncodeKey renders key in the form JENKINDS_SECRET_KEY and secret.key take
// (standard base64).
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }
