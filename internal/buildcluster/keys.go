package buildcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// The JWT algorithms a cluster's key may verify. The list is closed on
// purpose: the verifier pins the algorithm to the key, so a token can never
// choose a weaker one (none, HS256 with the public key as the secret).
const (
	AlgRS256 = "RS256" // RSA PKCS#1 v1.5 with SHA-256; keys of at least 2048 bits
	AlgES256 = "ES256" // ECDSA on P-256 with SHA-256
	AlgEdDSA = "EdDSA" // Ed25519
)

// Limits of a cluster's key set.
const (
	maxKeys   = 10
	maxKID    = 64
	maxPEM    = 16 << 10
	minRSABit = 2048
)

// ParsePublicKey checks that k.PEM is one public key of k.Algorithm and
// returns it, with k in its stored form: the PEM re-encoded as a single
// PKIX "PUBLIC KEY" block, so whatever else was pasted around it (headers,
// other blocks, stray text) is never stored. A private key is refused with
// a rule that says to register the public key. Errors are
// *ValidationError on field; they never quote the PEM.
func ParsePublicKey(prefix string, k PublicKey) (PublicKey, crypto.PublicKey, error) {
	norm, key, problem := parseKey(prefix, k)
	if problem != nil {
		return PublicKey{}, nil, problem
	}
	return norm, key, nil
}

func parseKey(prefix string, k PublicKey) (PublicKey, crypto.PublicKey, *ValidationError) {
	pemField := subField(prefix, "pem")
	bad := func(rule string) (PublicKey, crypto.PublicKey, *ValidationError) {
		return PublicKey{}, nil, &ValidationError{Field: pemField, Rule: rule}
	}
	if rule := kidRule(k.KID); rule != "" {
		return PublicKey{}, nil, &ValidationError{Field: subField(prefix, "kid"), Rule: rule}
	}
	if k.Algorithm != AlgRS256 && k.Algorithm != AlgES256 && k.Algorithm != AlgEdDSA {
		return PublicKey{}, nil, &ValidationError{Field: subField(prefix, "algorithm"),
			Rule: fmt.Sprintf("must be %s, %s or %s", AlgRS256, AlgES256, AlgEdDSA)}
	}
	if strings.TrimSpace(k.PEM) == "" {
		return bad(`is required: the PEM of the public key, -----BEGIN PUBLIC KEY-----…`)
	}
	if len(k.PEM) > maxPEM {
		return bad(fmt.Sprintf("must be at most %d bytes", maxPEM))
	}

	// Look at every block first: a private key anywhere in the paste is
	// refused, even next to a public one, so that it is never half-accepted.
	var public []*pem.Block
	for rest := []byte(k.PEM); ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if strings.Contains(b.Type, "PRIVATE KEY") {
			return bad("is a PRIVATE key: register the PUBLIC key (openssl pkey -in key.pem -pubout) " +
				"and keep the private key with the cluster's workers only")
		}
		public = append(public, b)
	}
	if len(public) != 1 {
		return bad(`must hold exactly one "PUBLIC KEY" block, e.g. -----BEGIN PUBLIC KEY-----…`)
	}

	var (
		key crypto.PublicKey
		err error
	)
	switch b := public[0]; b.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		return bad(`is a certificate: register its public key (openssl x509 -in cert.pem -pubkey -noout)`)
	default:
		return bad(fmt.Sprintf(`is a %q block, not a "PUBLIC KEY"`, b.Type))
	}
	if err != nil {
		return bad(`does not parse as a public key: ` + err.Error())
	}
	if rule := checkKeyAlgorithm(key, k.Algorithm); rule != "" {
		return bad(rule)
	}

	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return bad("cannot be re-encoded as a public key: " + err.Error())
	}
	k.PEM = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return k, key, nil
}

// checkKeyAlgorithm returns the rule key breaks for alg, or "".
func checkKeyAlgorithm(key crypto.PublicKey, alg string) string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if alg != AlgRS256 {
			return fmt.Sprintf("is an RSA key, which verifies %s, not %s", AlgRS256, alg)
		}
		if k.N.BitLen() < minRSABit {
			return fmt.Sprintf("is a %d-bit RSA key: use at least %d bits", k.N.BitLen(), minRSABit)
		}
	case *ecdsa.PublicKey:
		if alg != AlgES256 {
			return fmt.Sprintf("is an ECDSA key, which verifies %s, not %s", AlgES256, alg)
		}
		if k.Curve != elliptic.P256() {
			return fmt.Sprintf("is an ECDSA key on %s: %s needs P-256", k.Curve.Params().Name, AlgES256)
		}
	case ed25519.PublicKey:
		if alg != AlgEdDSA {
			return fmt.Sprintf("is an Ed25519 key, which verifies %s, not %s", AlgEdDSA, alg)
		}
	default:
		return fmt.Sprintf("is a %T key: only RSA (RS256), ECDSA P-256 (ES256) and Ed25519 (EdDSA) are accepted", key)
	}
	return ""
}

// CryptoKey parses the stored key for a JWT verifier: an *rsa.PublicKey,
// *ecdsa.PublicKey or ed25519.PublicKey matching k.Algorithm.
func (k PublicKey) CryptoKey() (crypto.PublicKey, error) {
	_, key, err := ParsePublicKey("publicKeys", k)
	if err != nil {
		return nil, fmt.Errorf("parse key %q: %w", k.KID, err)
	}
	return key, nil
}

// checkKeys validates and normalises a key set: each key parses for its
// algorithm, kids are well formed and unique, and there are at most
// maxKeys. It returns the keys in stored form.
func checkKeys(keys []PublicKey) ([]PublicKey, *ValidationError) {
	if len(keys) > maxKeys {
		return nil, &ValidationError{Field: "publicKeys", Rule: fmt.Sprintf("must hold at most %d keys: remove retired keys first", maxKeys)}
	}
	out := make([]PublicKey, 0, len(keys))
	seen := map[string]bool{}
	for i, k := range keys {
		field := fmt.Sprintf("publicKeys[%d]", i)
		norm, _, problem := parseKey(field, k)
		if problem != nil {
			return nil, problem
		}
		if seen[k.KID] {
			return nil, &ValidationError{Field: field + ".kid", Rule: fmt.Sprintf("%q is used by another key of this cluster: kids must be unique", k.KID)}
		}
		seen[k.KID] = true
		out = append(out, norm)
	}
	return out, nil
}

// subField names a field inside prefix: "publicKeys[0].pem", or "pem"
// when prefix is "" (a key sent on its own, to AddKey).
func subField(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

// kidRule returns the rule kid breaks, or "": 1–64 characters of
// [A-Za-z0-9._-], safe in a JWT header, a log line and a URL path.
func kidRule(kid string) string {
	if kid == "" || len(kid) > maxKID || !identifier(kid) {
		return fmt.Sprintf("must be 1 to %d characters of letters, digits, '.', '_' and '-', e.g. 2025-06", maxKID)
	}
	return ""
}

// identifier reports whether s is made of [A-Za-z0-9_.-] only (the \w, '.'
// and '-' of the name rule).
func identifier(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}
