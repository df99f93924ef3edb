// Package auth guards the admin API (/api/v1) with one bearer token: the
// admin token. LoadAdminToken finds it at start-up; Middleware checks it on
// every request.
//
// Where the token comes from, first match wins:
//
//	JENKINDS_ADMIN_TOKEN        set on every replica of one deployment
//	<data-dir>/admin.token      mode 0600; refused when group or others can read it
//	generated                   "jk_" + 32 base64url characters, written to admin.token
//	                            (created == true: the caller prints it once)
//
// The token never appears in a log line or an error message, here or in
// what Middleware answers.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// EnvAdminToken is the environment variable holding the admin token. Every
// replica of one deployment must have the same token.
const EnvAdminToken = "JENKINDS_ADMIN_TOKEN"

// TokenFileName is the file LoadAdminToken keeps in the data directory when
// EnvAdminToken is unset.
const TokenFileName = "admin.token"

// MinTokenLength is the shortest admin token accepted, in characters.
const MinTokenLength = 16

// tokenPrefix marks generated tokens, so a leaked one is recognisable in
// secret scanners and pastes.
const tokenPrefix = "jk_"

// tokenRule is what every admin token must satisfy; errors end with it.
var tokenRule = fmt.Sprintf("it must be at least %d characters without spaces or control characters (make one with: openssl rand -base64 24)", MinTokenLength)

// LoadAdminToken finds the admin token: from JENKINDS_ADMIN_TOKEN when set,
// else from <dataDir>/admin.token, which it creates (mode 0600, directory
// 0700) with a new random token on first start; created then says the
// caller should show the token once. Replicas starting together on one data
// directory agree on one token.
func LoadAdminToken(getenv func(string) string, dataDir string) (token string, created bool, err error) {
	return loadAdminToken(getenv, dataDir, rand.Reader)
}

func loadAdminToken(getenv func(string) string, dataDir string, random io.Reader) (string, bool, error) {
	if v := getenv(EnvAdminToken); v != "" {
		if err := checkToken(v); err != nil {
			return "", false, fmt.Errorf("load admin token from %s: %w", EnvAdminToken, err)
		}
		return v, false, nil
	}
	if dataDir == "" {
		return "", false, fmt.Errorf("load admin token: set %s or give a data directory for %s", EnvAdminToken, TokenFileName)
	}
	path := filepath.Join(dataDir, TokenFileName)
	token, err := readTokenFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return token, false, err
	}
	token, err = generateToken(random)
	if err != nil {
		return "", false, fmt.Errorf("generate admin token: %w", err)
	}
	return createTokenFile(path, token)
}

// checkToken applies tokenRule. Its errors give the length, never the
// token.
func checkToken(t string) error {
	if len([]rune(t)) < MinTokenLength || strings.IndexFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("the token given (%d characters) is not acceptable: %s", len([]rune(t)), tokenRule)
	}
	return nil
}

// generateToken returns tokenPrefix and 32 base64url characters (192 bits)
// read from random.
func generateToken(random io.Reader) (string, error) {
	var b [24]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// readTokenFile reads the token in path, refusing a file that group or
// others may read. A missing file is an error matching fs.ErrNotExist.
func readTokenFile(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("read admin token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("read admin token file %s: it is readable by group or others (mode %04o): run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read admin token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if err := checkToken(token); err != nil {
		return "", fmt.Errorf("read admin token file %s: %w; or remove the file to have a new token generated", path, err)
	}
	return token, nil
}

// createTokenFile stores token in path and returns it with created ==
// true. The file appears whole or not at all: the token goes to a
// temporary file first, which is then linked into place. The link fails if
// another replica got there first; then the winner's token is read and
// returned with created == false.
func createTokenFile(path, token string) (string, bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("create admin token file: %w", err)
	}
	f, err := os.CreateTemp(dir, TokenFileName+".*.tmp") // mode 0600
	if err != nil {
		return "", false, fmt.Errorf("create admin token file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(token + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), path)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		token, err := readTokenFile(path)
		return token, false, err
	case err != nil:
		return "", false, fmt.Errorf("create admin token file: %w", err)
	}
	return token, true, nil
}
