package worker

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// Key is a cluster's private key, as the worker signs its tokens with it.
type Key struct {
	Signer    crypto.Signer
	Algorithm string // the JWT alg it signs: RS256, ES256 or EdDSA
}

// ParseKey reads a PEM private key (PKCS#8 "PRIVATE KEY", or the older
// "RSA PRIVATE KEY" and "EC PRIVATE KEY") and the algorithm it signs.
func ParseKey(pemBytes []byte) (Key, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return Key{}, errors.New("no PEM block: want a private key, -----BEGIN PRIVATE KEY-----… (jenkinds keys generate makes one)")
	}
	var (
		key any
		err error
	)
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "PUBLIC KEY":
		return Key{}, errors.New("this is the PUBLIC key: the worker needs the private key; the public one is registered with the cluster")
	default:
		return Key{}, fmt.Errorf("a %q PEM block is not a private key", b.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("parse private key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return Key{}, fmt.Errorf("a %d-bit RSA key is too short: use at least 2048 bits", k.N.BitLen())
		}
		return Key{Signer: k, Algorithm: buildcluster.AlgRS256}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("an ECDSA key on %s cannot sign ES256, which needs P-256", k.Curve.Params().Name)
		}
		return Key{Signer: k, Algorithm: buildcluster.AlgES256}, nil
	case ed25519.PrivateKey:
		return Key{Signer: k, Algorithm: buildcluster.AlgEdDSA}, nil
	}
	return Key{}, fmt.Errorf("a %T key is not accepted: use Ed25519 (EdDSA), ECDSA P-256 (ES256) or RSA (RS256)", key)
}

// GenerateKey makes a new private key for alg (EdDSA, ES256 or RS256; RSA
// keys have 3072 bits).
func GenerateKey(alg string) (Key, error) {
	var (
		s   crypto.Signer
		err error
	)
	switch alg {
	case buildcluster.AlgEdDSA:
		_, s, err = ed25519.GenerateKey(rand.Reader)
	case buildcluster.AlgES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case buildcluster.AlgRS256:
		s, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return Key{}, fmt.Errorf("algorithm %q: want %s, %s or %s", alg, buildcluster.AlgEdDSA, buildcluster.AlgES256, buildcluster.AlgRS256)
	}
	if err != nil {
		return Key{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return Key{Signer: s, Algorithm: alg}, nil
}

// PrivatePEM renders the private key as PKCS#8 PEM.
func (k Key) PrivatePEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicPEM renders the public key as the PKIX PEM a cluster registers.
func (k Key) PublicPEM() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// KID is the key's default kid (see KIDOf).
func (k Key) KID() string { return KIDOf(k.Signer.Public(), k.Algorithm) }

// KIDOf is the default kid of a public key: its algorithm and the start of
// the base64url SHA-256 of its DER, so that a worker and the registration
// of its key agree on the kid without anyone choosing one.
func KIDOf(pub crypto.PublicKey, alg string) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return strings.ToLower(alg) + "-" + base64.RawURLEncoding.EncodeToString(sum[:])[:16]
}

// AlgorithmOf is the JWT alg a public key verifies: RS256, ES256 or EdDSA,
// "" for any other key.
func AlgorithmOf(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return buildcluster.AlgRS256
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return buildcluster.AlgES256
		}
	case ed25519.PublicKey:
		return buildcluster.AlgEdDSA
	}
	return ""
}
