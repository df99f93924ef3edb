package secret

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvKey is the environment variable holding the server key. Every replica
// of one deployment must have the same key.
const EnvKey = "JENKINDS_SECRET_KEY"

// KeyFileName is the key file LoadKey keeps in the data directory when
// EnvKey is unset.
const KeyFileName = "secret.key"

const keyFormats = "32 bytes as standard or URL-safe base64, or as 64 hex digits; make one with: openssl rand -base64 32"

// LoadKey finds the server key: from EnvKey when set, else from
// <dataDir>/secret.key, which it creates (mode 0600, directory 0700) with a
// new random key on first start. source says where the key came from, for a
// log line; neither the key nor source holds secret material.
//
// The key file holds the key as standard base64 on one line, so it can be
// copied into EnvKey on other replicas. LoadKey refuses a key file that its
// group or others can read.
func LoadKey(getenv func(string) string, dataDir string) (key []byte, source string, err error) {
	if v := getenv(EnvKey); v != "" {
		key, err := parseKey(v)
		if err != nil {
			return nil, "", fmt.Errorf("load key from %s: %w", EnvKey, err)
		}
		return key, "environment variable " + EnvKey, nil
	}
	if dataDir == "" {
		return nil, "", fmt.Errorf("load key: set %s or give a data directory for %s", EnvKey, KeyFileName)
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err = readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
		if err != nil {
			return nil, "", err
		}
		return key, "new key file " + path, nil
	}
	if err != nil {
		return nil, "", err
	}
	return key, "key file " + path, nil
}

// parseKey decodes a key in any of the forms keyFormats names. Its errors
// never quote the input: it is a secret, however mistyped.
func parseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if key, err := hex.DecodeString(s); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("not a valid key (%d characters): want %s", len(s), keyFormats)
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("read key file %s: it is readable by group or others (mode %04o): run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(data) == KeySize {
		return data, nil // raw bytes, as written by hand with head -c 32 /dev/urandom
	}
	key, err := parseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w; or remove it to make a new key (secrets sealed with the old one are then lost)", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to path without ever exposing a partial
// file: it writes a temporary file and links it into place, which fails if
// another process created path first; then the winner's key is read.
func createKeyFile(path string) ([]byte, error) {
	key := GenerateKey()
	tmp, err := writeTemp(filepath.Dir(path), EncodeKey(key)+"\n")
	if tmp != "" {
		defer os.Remove(tmp)
	}
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("create key file: %w", err)
	}
	return key, nil
}

// writeTemp writes content to a new file in dir, creating dir with mode 0700
// if missing, and returns the file's name. os.CreateTemp makes the file with
// mode 0600.
func writeTemp(dir, content string) (name string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, KeyFileName+".*.tmp")
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}
