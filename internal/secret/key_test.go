package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jenkinds/jenkinds/internal/secret"
)

// env returns a getenv that knows only JENKINDS_SECRET_KEY=v (unset when "").
func env(v string) func(string) string {
	return func(name string) string {
		if name == secret.EnvKey {
			return v
		}
		return ""
	}
}

func TestLoadKeyFromEnv(t *testing.T) {
	t.Parallel()
	// 0xfb bytes make + and / in standard base64, - and _ in URL-safe.
	key := bytes.Repeat([]byte{0xfb, 0xef, 0xbe}, 11)[:secret.KeySize]
	for _, tt := range []struct{ name, value string }{
		{"standard base64", base64.StdEncoding.EncodeToString(key)},
		{"raw standard base64", base64.RawStdEncoding.EncodeToString(key)},
		{"url base64", base64.URLEncoding.EncodeToString(key)},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(key)},
		{"hex", hex.EncodeToString(key)},
		{"upper hex", strings.ToUpper(hex.EncodeToString(key))},
		{"with newline", base64.StdEncoding.EncodeToString(key) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			got, source, err := secret.LoadKey(env(tt.value), dir)
			if err != nil {
				t.Fatalf("LoadKey(%q): %v", tt.value, err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("LoadKey(%q): got %x, want %x", tt.value, got, key)
			}
			if !strings.Contains(source, secret.EnvKey) {
				t.Errorf("source: got %q, want it to name %s", source, secret.EnvKey)
			}
			if _, err := os.Stat(filepath.Join(dir, secret.KeyFileName)); !os.IsNotExist(err) {
				t.Errorf("key file with the key in the environment: got stat error %v, want it not to exist", err)
			}
		})
	}
}

func TestLoadKeyRejectsBadEnv(t *testing.T) {
	t.Parallel()
	for _, value := range []string{
		"hunter2",
		hex.EncodeToString(make([]byte, 31)),
		strings.Repeat("zz", 32), // 64 characters, not hex, not base64 of 32 bytes
		base64.StdEncoding.EncodeToString(make([]byte, 16)),
		base64.StdEncoding.EncodeToString(make([]byte, 33)),
	} {
		_, _, err := secret.LoadKey(env(value), t.TempDir())
		if err == nil {
			t.Errorf("LoadKey(%q): got no error, want one", value)
			continue
		}
		for _, want := range []string{secret.EnvKey, "base64", "hex"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("LoadKey(%q) error: got %q, want it to mention %q", value, err, want)
			}
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("LoadKey(%q) error quotes the secret: %q", value, err)
		}
	}
}

func TestLoadKeyCreatesFile(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "data", "jenkinds")
	key, source, err := secret.LoadKey(env(""), dataDir)
	if err != nil {
		t.Fatalf("LoadKey: %v", err)
	}
	if len(key) != secret.KeySize {
		t.Errorf("key length: got %d, want %d", len(key), secret.KeySize)
	}
	path := filepath.Join(dataDir, secret.KeyFileName)
	if want := "new key file " + path; source != want {
		t.Errorf("source: got %q, want %q", source, want)
	}
	for _, tt := range []struct {
		path string
		want os.FileMode
	}{{dataDir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if got := fi.Mode().Perm(); got != tt.want {
			t.Errorf("mode of %s: got %04o, want %04o", tt.path, got, tt.want)
		}
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatalf("read data dir: %v", err)
	}
	if len(entries) != 1 {
		t.Errorf("data dir entries: got %d, want only %s (no temporary file left)", len(entries), secret.KeyFileName)
	}

	again, source, err := secret.LoadKey(env(""), dataDir)
	if err != nil {
		t.Fatalf("LoadKey again: %v", err)
	}
	if !bytes.Equal(again, key) {
		t.Errorf("LoadKey again: got another key, want the one in the file")
	}
	if want := "key file " + path; source != want {
		t.Errorf("source: got %q, want %q", source, want)
	}

	// The file holds what JENKINDS_SECRET_KEY takes, so replicas can share it.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read key file: %v", err)
	}
	fromEnv, _, err := secret.LoadKey(env(string(data)), t.TempDir())
	if err != nil {
		t.Fatalf("LoadKey with the file's content as %s: %v", secret.EnvKey, err)
	}
	if !bytes.Equal(fromEnv, key) {
		t.Errorf("key from the file's content: got another key, want the file's")
	}
}

func TestLoadKeyConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], _, errs[i] = secret.LoadKey(env(""), dataDir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadKey %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("LoadKey %d: got a different key from LoadKey 0, want one key for all", i)
		}
	}
}

func TestLoadKeyRefusesInsecureFile(t *testing.T) {
	t.Parallel()
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		dataDir := t.TempDir()
		path := filepath.Join(dataDir, secret.KeyFileName)
		if err := os.WriteFile(path, []byte(secret.EncodeKey(secret.GenerateKey())), mode); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := os.Chmod(path, mode); err != nil { // WriteFile's mode passes through the umask
			t.Fatalf("chmod: %v", err)
		}
		_, _, err := secret.LoadKey(env(""), dataDir)
		if err == nil {
			t.Errorf("LoadKey with key file mode %04o: got no error, want one", mode)
			continue
		}
		if want := "chmod 600 " + path; !strings.Contains(err.Error(), want) {
			t.Errorf("LoadKey with key file mode %04o: got %q, want it to say %q", mode, err, want)
		}
	}
}

func TestLoadKeyFileForms(t *testing.T) {
	t.Parallel()
	key := secret.GenerateKey()
	for _, tt := range []struct {
		name    string
		content []byte
		wantErr string // "" means the key must load
	}{
		{"raw bytes", key, ""},
		{"base64 line", []byte(secret.EncodeKey(key) + "\n"), ""},
		{"hex", []byte(hex.EncodeToString(key)), ""},
		{"empty", nil, "remove it to make a new key"},
		{"garbage", []byte("not a key at all"), "remove it to make a new key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dataDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dataDir, secret.KeyFileName), tt.content, 0o600); err != nil {
				t.Fatalf("write: %v", err)
			}
			got, _, err := secret.LoadKey(env(""), dataDir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("LoadKey: got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("LoadKey: got %x, want %x", got, key)
			}
		})
	}
}

func TestLoadKeyNeedsASource(t *testing.T) {
	t.Parallel()
	_, _, err := secret.LoadKey(env(""), "")
	if err == nil || !strings.Contains(err.Error(), secret.EnvKey) {
		t.Errorf("LoadKey without env or data dir: got %v, want an error naming %s", err, secret.EnvKey)
	}
}
