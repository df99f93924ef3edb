package buildcluster_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// Test keys, made once per test binary (RSA generation is slow under -race).
var (
	rsaKey    = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	rsaWeak   = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 1024)) })
	ecKey     = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	ecP384Key = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
	edKey     = sync.OnceValue(func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return must(k, err)
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func publicPEM(k crypto.Signer) string {
	return pemOf("PUBLIC KEY", must(x509.MarshalPKIXPublicKey(k.Public())))
}

func privatePEM(k crypto.Signer) string {
	return pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(k)))
}

func certificatePEM(k *ecdsa.PrivateKey) string {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "worker"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	return pemOf("CERTIFICATE", must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)))
}

func rsaPublic() buildcluster.PublicKey {
	return buildcluster.PublicKey{KID: "rsa-1", Algorithm: buildcluster.AlgRS256, PEM: publicPEM(rsaKey())}
}

func ecPublic() buildcluster.PublicKey {
	return buildcluster.PublicKey{KID: "ec-1", Algorithm: buildcluster.AlgES256, PEM: publicPEM(ecKey())}
}

func edPublic() buildcluster.PublicKey {
	return buildcluster.PublicKey{KID: "ed-1", Algorithm: buildcluster.AlgEdDSA, PEM: publicPEM(edKey())}
}

func TestParsePublicKey(t *testing.T) {
	t.Parallel()
	pkcs1 := pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey))
	tests := []struct {
		name      string
		key       buildcluster.PublicKey
		wantField string // "" when the key is accepted
		wantRule  string
	}{
		{name: "RS256", key: rsaPublic()},
		{name: "RS256 from PKCS#1", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: pkcs1}},
		{name: "ES256", key: ecPublic()},
		{name: "EdDSA", key: edPublic()},
		{name: "surrounding text is dropped", key: buildcluster.PublicKey{KID: "k", Algorithm: "EdDSA", PEM: "my key:\n" + publicPEM(edKey()) + "\nthanks"}},

		{name: "PKCS#8 private key", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: privatePEM(rsaKey())},
			wantField: "pem", wantRule: "PRIVATE key: register the PUBLIC key"},
		{name: "PKCS#1 RSA private key", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey()))},
			wantField: "pem", wantRule: "PRIVATE key"},
		{name: "SEC1 EC private key", key: buildcluster.PublicKey{KID: "k", Algorithm: "ES256", PEM: pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ecKey())))},
			wantField: "pem", wantRule: "PRIVATE key"},
		{name: "Ed25519 private key", key: buildcluster.PublicKey{KID: "k", Algorithm: "EdDSA", PEM: privatePEM(edKey())},
			wantField: "pem", wantRule: "PRIVATE key"},
		{name: "public and private pasted together", key: buildcluster.PublicKey{KID: "k", Algorithm: "EdDSA", PEM: publicPEM(edKey()) + privatePEM(edKey())},
			wantField: "pem", wantRule: "PRIVATE key"},
		{name: "encrypted private key", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: pemOf("ENCRYPTED PRIVATE KEY", []byte("x"))},
			wantField: "pem", wantRule: "PRIVATE key"},
		{name: "two public keys", key: buildcluster.PublicKey{KID: "k", Algorithm: "EdDSA", PEM: publicPEM(edKey()) + publicPEM(edKey())},
			wantField: "pem", wantRule: "exactly one"},
		{name: "certificate", key: buildcluster.PublicKey{KID: "k", Algorithm: "ES256", PEM: certificatePEM(ecKey())},
			wantField: "pem", wantRule: "is a certificate"},
		{name: "not PEM", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: "ssh-rsa AAAAB3Nza..."},
			wantField: "pem", wantRule: "exactly one"},
		{name: "empty PEM", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256"}, wantField: "pem", wantRule: "is required"},
		{name: "garbage in a PUBLIC KEY block", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: pemOf("PUBLIC KEY", []byte("nope"))},
			wantField: "pem", wantRule: "does not parse"},

		{name: "RSA key as ES256", key: buildcluster.PublicKey{KID: "k", Algorithm: "ES256", PEM: publicPEM(rsaKey())},
			wantField: "pem", wantRule: "RSA key, which verifies RS256, not ES256"},
		{name: "EC key as EdDSA", key: buildcluster.PublicKey{KID: "k", Algorithm: "EdDSA", PEM: publicPEM(ecKey())},
			wantField: "pem", wantRule: "ECDSA key, which verifies ES256"},
		{name: "Ed25519 key as RS256", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: publicPEM(edKey())},
			wantField: "pem", wantRule: "Ed25519 key, which verifies EdDSA"},
		{name: "P-384 as ES256", key: buildcluster.PublicKey{KID: "k", Algorithm: "ES256", PEM: publicPEM(ecP384Key())},
			wantField: "pem", wantRule: "P-384: ES256 needs P-256"},
		{name: "RSA 1024", key: buildcluster.PublicKey{KID: "k", Algorithm: "RS256", PEM: publicPEM(rsaWeak())},
			wantField: "pem", wantRule: "1024-bit RSA key: use at least 2048"},

		{name: "HS256", key: buildcluster.PublicKey{KID: "k", Algorithm: "HS256", PEM: publicPEM(edKey())},
			wantField: "algorithm", wantRule: "must be RS256, ES256 or EdDSA"},
		{name: "none", key: buildcluster.PublicKey{KID: "k", Algorithm: "none", PEM: publicPEM(edKey())}, wantField: "algorithm"},
		{name: "lower-case algorithm", key: buildcluster.PublicKey{KID: "k", Algorithm: "rs256", PEM: publicPEM(rsaKey())}, wantField: "algorithm"},
		{name: "empty kid", key: buildcluster.PublicKey{Algorithm: "EdDSA", PEM: publicPEM(edKey())}, wantField: "kid"},
		{name: "kid with a slash", key: buildcluster.PublicKey{KID: "a/b", Algorithm: "EdDSA", PEM: publicPEM(edKey())}, wantField: "kid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, key, err := buildcluster.ParsePublicKey("", tt.key)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ParsePublicKey: %v", err)
				}
				if key == nil || !strings.HasPrefix(got.PEM, "-----BEGIN PUBLIC KEY-----\n") || strings.Count(got.PEM, "-----BEGIN") != 1 {
					t.Errorf("ParsePublicKey: got key %T, PEM %q; want one PUBLIC KEY block", key, got.PEM)
				}
				if got.KID != tt.key.KID || got.Algorithm != tt.key.Algorithm {
					t.Errorf("ParsePublicKey: got kid %q alg %q, want %q %q", got.KID, got.Algorithm, tt.key.KID, tt.key.Algorithm)
				}
				again, _, err := buildcluster.ParsePublicKey("", got)
				if err != nil || again != got {
					t.Errorf("ParsePublicKey of the stored form: got %+v, %v; want it unchanged", again, err)
				}
				return
			}
			var ve *buildcluster.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ParsePublicKey: got %v, want a *ValidationError", err)
			}
			if ve.Field != tt.wantField || !strings.Contains(ve.Rule, tt.wantRule) {
				t.Errorf("ParsePublicKey: got %s: %s; want field %s, rule containing %q", ve.Field, ve.Rule, tt.wantField, tt.wantRule)
			}
			for _, line := range strings.Split(tt.key.PEM, "\n") {
				if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Errorf("ParsePublicKey error quotes the PEM: %v", err)
				}
			}
		})
	}
}

func TestCryptoKey(t *testing.T) {
	t.Parallel()
	for _, k := range []buildcluster.PublicKey{rsaPublic(), ecPublic(), edPublic()} {
		key, err := k.CryptoKey()
		if err != nil {
			t.Fatalf("CryptoKey(%s): %v", k.KID, err)
		}
		var ok bool
		switch k.Algorithm {
		case buildcluster.AlgRS256:
			_, ok = key.(*rsa.PublicKey)
		case buildcluster.AlgES256:
			_, ok = key.(*ecdsa.PublicKey)
		case buildcluster.AlgEdDSA:
			_, ok = key.(ed25519.PublicKey)
		}
		if !ok {
			t.Errorf("CryptoKey(%s): got %T", k.KID, key)
		}
	}
}
