package auth_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jenkinds/jenkinds/internal/auth"
)

// env returns a getenv that knows only JENKINDS_ADMIN_TOKEN=v (unset when "").
func env(v string) func(string) string {
	return func(name string) string {
		if name == auth.EnvAdminToken {
			return v
		}
		return ""
	}
}

// writeTokenFile writes content to dir/admin.token with mode perm.
func writeTokenFile(t *testing.T, dir, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, auth.TokenFileName)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's mode passes through the umask
		t.Fatal(err)
	}
	return path
}

var generated = regexp.MustCompile(`^jk_[A-Za-z0-9_-]{32}$`)

func TestLoadAdminTokenFromEnv(t *testing.T) {
	t.Parallel()
	for _, token := range []string{
		"0123456789abcdef",                  // exactly the minimum
		"jk_" + strings.Repeat("x", 32),     // a generated one copied over
		"ünïcödé-tökens-are-fine-too",       // counted in characters
		"sixteen+symbols/=!@#$%^&*()-_=+[]", // any printable ASCII
	} {
		t.Run(token, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// A file, too: the environment wins over it.
			writeTokenFile(t, dir, "file-token-0123456789\n", 0o600)
			got, created, err := auth.LoadAdminToken(env(token), dir)
			if err != nil {
				t.Fatalf("LoadAdminToken: %v", err)
			}
			if got != token || created {
				t.Errorf("LoadAdminToken: got %q, created %v; want %q, false", got, created, token)
			}
		})
	}
}

func TestLoadAdminTokenRejectsBadEnv(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, token string }{
		{"15 characters", "0123456789abcde"},
		{"15 characters of two bytes", strings.Repeat("é", 15)},
		{"a space", "0123456789 abcdef"},
		{"a trailing newline", "0123456789abcdef\n"},
		{"a tab", "0123456789\tabcdef"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			_, _, err := auth.LoadAdminToken(env(tt.token), dir)
			if err == nil {
				t.Fatalf("LoadAdminToken(%q): got no error, want one", tt.token)
			}
			for _, want := range []string{auth.EnvAdminToken, "at least 16 characters"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q: want it to mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), strings.TrimSpace(tt.token)) {
				t.Errorf("error %q: contains the token", err)
			}
			if _, err := os.Stat(filepath.Join(dir, auth.TokenFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("token file after a bad environment token: got stat error %v, want none created", err)
			}
		})
	}
}

func TestLoadAdminTokenCreatesFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "dir") // created on the way
	token, created, err := auth.LoadAdminToken(env(""), dir)
	if err != nil {
		t.Fatalf("LoadAdminToken: %v", err)
	}
	if !created || !generated.MatchString(token) {
		t.Errorf("LoadAdminToken: got %q, created %v; want a token matching %s, created", token, created, generated)
	}
	path := filepath.Join(dir, auth.TokenFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("token file mode: got %04o, want 0600", perm)
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("data directory: got %v (err %v), want mode 0700", di.Mode().Perm(), err)
	}
	if data, _ := os.ReadFile(path); string(data) != token+"\n" {
		t.Errorf("token file: got %q, want %q", data, token+"\n")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left behind: %q", left)
	}

	again, created, err := auth.LoadAdminToken(env(""), dir)
	if err != nil || again != token || created {
		t.Errorf("second LoadAdminToken: got %q, created %v, err %v; want the same token, not created", again, created, err)
	}
}

func TestLoadAdminTokenUsesRandomness(t *testing.T) {
	t.Parallel()
	random := bytes.NewReader(bytes.Repeat([]byte{0xfb}, 24))
	token, created, err := auth.LoadAdminTokenFrom(env(""), t.TempDir(), random)
	if err != nil {
		t.Fatal(err)
	}
	if want := "jk_" + strings.Repeat("-_v7", 8); token != want || !created {
		t.Errorf("token from 0xfb bytes: got %q, created %v; want %q, created", token, created, want)
	}

	dir := t.TempDir()
	_, _, err = auth.LoadAdminTokenFrom(env(""), dir, bytes.NewReader(make([]byte, 10)))
	if err == nil || !strings.Contains(err.Error(), "generate admin token") {
		t.Errorf("with too little randomness: got %v, want a generate admin token error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, auth.TokenFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token file after failed generation: got stat error %v, want none", err)
	}
}

func TestLoadAdminTokenConcurrentFirstStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	tokens := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { tokens[i], created[i], errs[i] = auth.LoadAdminToken(env(""), dir) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadAdminToken %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Errorf("LoadAdminToken %d: got %q, want %q like the first", i, tokens[i], tokens[0])
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("replicas that created the token: got %d, want 1", creators)
	}
}

func TestLoadAdminTokenReadsFile(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, content, want string }{
		{"with newline", "file-token-0123456789\n", "file-token-0123456789"},
		{"without newline", "file-token-0123456789", "file-token-0123456789"},
		{"with surrounding space", "  file-token-0123456789 \r\n", "file-token-0123456789"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeTokenFile(t, dir, tt.content, 0o600)
			got, created, err := auth.LoadAdminToken(env(""), dir)
			if err != nil || got != tt.want || created {
				t.Errorf("LoadAdminToken: got %q, created %v, err %v; want %q, not created", got, created, err, tt.want)
			}
		})
	}
}

func TestLoadAdminTokenRejectsBadFile(t *testing.T) {
	t.Parallel()
	const secretish = "short-secret"
	for _, tt := range []struct {
		name    string
		content string
		perm    os.FileMode
		want    []string
	}{
		{"group readable", "file-token-0123456789\n", 0o640, []string{"readable by group or others", "mode 0640", "run chmod 600 "}},
		{"world readable", "file-token-0123456789\n", 0o604, []string{"mode 0604", "run chmod 600 "}},
		{"group writable", "file-token-0123456789\n", 0o620, []string{"mode 0620", "run chmod 600 "}},
		{"too short", secretish + "\n", 0o600, []string{"at least 16 characters", "remove the file"}},
		{"empty", "", 0o600, []string{"(0 characters)", "remove the file"}},
		{"inner space", "file token 0123456789", 0o600, []string{"without spaces"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := writeTokenFile(t, dir, tt.content, tt.perm)
			_, _, err := auth.LoadAdminToken(env(""), dir)
			if err == nil {
				t.Fatalf("LoadAdminToken: got no error, want one")
			}
			for _, want := range append(tt.want, path) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q: want it to mention %q", err, want)
				}
			}
			for _, leak := range []string{"file-token-0123456789", secretish} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error %q: contains the token", err)
				}
			}
			if data, _ := os.ReadFile(path); string(data) != tt.content {
				t.Errorf("token file after refusal: got %q, want it untouched", data)
			}
		})
	}
}

func TestLoadAdminTokenNeedsASource(t *testing.T) {
	t.Parallel()
	_, _, err := auth.LoadAdminToken(env(""), "")
	if err == nil || !strings.Contains(err.Error(), auth.EnvAdminToken) || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("LoadAdminToken without env or data dir: got %v, want an error naming %s and the data directory", err, auth.EnvAdminToken)
	}
}
