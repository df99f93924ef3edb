package worker_test

import (
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/worker"
)

func TestKeysRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{buildcluster.AlgEdDSA, buildcluster.AlgES256, buildcluster.AlgRS256} {
		k, err := worker.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		private, err := k.PrivatePEM()
		if err != nil {
			t.Fatal(err)
		}
		back, err := worker.ParseKey(private)
		if err != nil || back.Algorithm != alg || back.KID() != k.KID() {
			t.Errorf("%s: parsed back as %s kid %s (%v), want kid %s", alg, back.Algorithm, back.KID(), err, k.KID())
		}
		// The public key registers as is, and its default kid is the worker's.
		public, _ := k.PublicPEM()
		norm, pub, err := buildcluster.ParsePublicKey("", buildcluster.PublicKey{KID: k.KID(), Algorithm: alg, PEM: string(public)})
		if err != nil || norm.KID != k.KID() || worker.KIDOf(pub, alg) != k.KID() || worker.AlgorithmOf(pub) != alg {
			t.Errorf("%s: public key: %v", alg, err)
		}
		if !strings.HasPrefix(k.KID(), strings.ToLower(alg)+"-") {
			t.Errorf("%s: kid %q", alg, k.KID())
		}
	}
}

func TestParseKeyRefuses(t *testing.T) {
	t.Parallel()
	k, _ := worker.GenerateKey(buildcluster.AlgEdDSA)
	public, _ := k.PublicPEM()
	for _, tt := range []struct {
		name, pem, want string
	}{
		{"not PEM", "hello", "no PEM block"},
		{"a public key", string(public), "PUBLIC key"},
		{"a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a private key"},
	} {
		if _, err := worker.ParseKey([]byte(tt.pem)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := worker.GenerateKey("HS256"); err == nil {
		t.Error("GenerateKey(HS256): want an error")
	}
}
