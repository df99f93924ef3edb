package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/secret"
)

// nextKeyFile holds the new key while a rotation is under way, so that a
// crash between re-sealing and replacing the key file loses nothing.
const nextKeyFile = secret.KeyFileName + ".next"

// keyring is a Sealer whose key can be reloaded after a rotation by
// another process.
type keyring struct {
	getenv  func(string) string
	dataDir string
	cur     atomic.Pointer[secret.Sealer]
	source  string
}

var _ controller.Sealer = (*keyring)(nil)

func loadKeyring(getenv func(string) string, dataDir string) (*keyring, error) {
	k := &keyring{getenv: getenv, dataDir: dataDir}
	return k, k.reload()
}

// reload reads the key (and a pending rotation's next key, which can then
// open what was already re-sealed).
func (k *keyring) reload() error {
	key, source, err := secret.LoadKey(k.getenv, k.dataDir)
	if err != nil {
		return err
	}
	var old [][]byte
	if next, err := readNextKey(k.dataDir); err == nil {
		old = append(old, next)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s, err := secret.NewSealer(key, old...)
	if err != nil {
		return err
	}
	k.cur.Store(s)
	k.source = source
	return nil
}

func (k *keyring) Seal(plain []byte) (string, error)  { return k.cur.Load().Seal(plain) }
func (k *keyring) Open(sealed string) ([]byte, error) { return k.cur.Load().Open(sealed) }

func readNextKey(dataDir string) ([]byte, error) {
	return readKeyFileAt(filepath.Join(dataDir, nextKeyFile))
}

// readKeyFileAt reads a key file written by rotate (base64 on one line).
func readKeyFileAt(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	env := func(name string) string {
		if name == secret.EnvKey {
			return strings.TrimSpace(string(b))
		}
		return ""
	}
	key, _, err := secret.LoadKey(env, "")
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// RotateResult says what a rotation did.
type RotateResult struct {
	Resealed int
	OldKeyID string
	NewKeyID string
	// NewKey is set when the key lives in the environment: the operator
	// must put it there (base64).
	NewKey string
}

// Rotate re-seals every API token under a new key. With a key file, the
// new key is written first as secret.key.next, the tokens are re-sealed in
// one transaction, then the file replaces secret.key. With
// JENKINDS_SECRET_KEY, the new key comes from JENKINDS_NEW_SECRET_KEY.
func Rotate(ctx context.Context, cfg Config, getenv func(string) string) (RotateResult, error) {
	cfg = cfg.withDefaults()
	d, err := openDB(ctx, cfg)
	if err != nil {
		return RotateResult{}, err
	}
	defer d.Close()
	ring, err := loadKeyring(getenv, cfg.DataDir)
	if err != nil {
		return RotateResult{}, err
	}
	oldKey, _, err := secret.LoadKey(getenv, cfg.DataDir)
	if err != nil {
		return RotateResult{}, err
	}
	fromEnv := getenv(secret.EnvKey) != ""
	var newKey []byte
	if fromEnv {
		v := getenv("JENKINDS_NEW_SECRET_KEY")
		if v == "" {
			return RotateResult{}, fmt.Errorf("the key comes from %s: put the new key in JENKINDS_NEW_SECRET_KEY (make one with: openssl rand -base64 32), run rotate, then set %s to it on every replica", secret.EnvKey, secret.EnvKey)
		}
		newKey, _, err = secret.LoadKey(func(string) string { return v }, "")
		if err != nil {
			return RotateResult{}, fmt.Errorf("JENKINDS_NEW_SECRET_KEY: %w", err)
		}
	} else {
		newKey = secret.GenerateKey()
		next := filepath.Join(cfg.DataDir, nextKeyFile)
		if err := os.WriteFile(next, []byte(secret.EncodeKey(newKey)+"\n"), 0o600); err != nil {
			return RotateResult{}, fmt.Errorf("write %s: %w", next, err)
		}
	}
	newSealer, err := secret.NewSealer(newKey)
	if err != nil {
		return RotateResult{}, err
	}
	store := controller.NewStore(d, ring, nil)
	n, err := store.ResealAll(ctx, ring.Open, newSealer.Seal)
	if err != nil {
		return RotateResult{}, fmt.Errorf("re-seal tokens: %w", err)
	}
	res := RotateResult{Resealed: n, OldKeyID: secret.KeyID(oldKey), NewKeyID: secret.KeyID(newKey)}
	if fromEnv {
		res.NewKey = secret.EncodeKey(newKey)
		return res, nil
	}
	cur := filepath.Join(cfg.DataDir, secret.KeyFileName)
	if err := os.Rename(filepath.Join(cfg.DataDir, nextKeyFile), cur); err != nil {
		return res, fmt.Errorf("replace %s (the tokens are already sealed with the key in %s; rename it by hand): %w", cur, nextKeyFile, err)
	}
	return res, nil
}
