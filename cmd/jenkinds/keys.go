package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/worker"
)

func init() {
	register(command{name: "keys", summary: "make key pairs for build cluster workers", run: runKeys})
}

const keysHelp = `
Makes the key pair a build cluster's workers sign their tokens with: the
private key stays with the workers (jenkinds worker --key), the public key
is registered with the cluster (jenkinds buildclusters add-key).`

var keySubcommands = []subcommand{
	{"generate", "make a key pair for a build cluster's workers", runKeysGenerate},
}

func runKeys(ctx context.Context, args []string, env *environment) error {
	return runGroup(ctx, args, env, "keys", keysHelp, keySubcommands)
}

const keysGenerateHelp = `
Writes a new private key to --out (mode 0600, PKCS#8 PEM) and its public
key to --out.pub, and prints the kid and how to register the public key.
The kid defaults to one derived from the public key, which jenkinds worker
derives the same way, so neither side needs --kid.

Examples:
  jenkinds keys generate --out /etc/jenkinds/bf1.pem
  jenkinds keys generate --out ios.pem --algorithm ES256 --kid ios-2025-06`

// keyPair is what keys generate prints with -o json.
type keyPair struct {
	KID            string `json:"kid"`
	Algorithm      string `json:"algorithm"`
	PrivateKeyFile string `json:"privateKeyFile"`
	PublicKeyFile  string `json:"publicKeyFile"`
	PublicKey      string `json:"publicKey"`
}

func runKeysGenerate(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "keys generate", "--out FILE [flags]", keysGenerateHelp)
	out := fs.String("out", "", "`file` for the private key; the public key goes to FILE.pub")
	alg := fs.String("algorithm", buildcluster.AlgEdDSA, "EdDSA (Ed25519), ES256 (ECDSA P-256) or RS256 (RSA 3072)")
	kid := fs.String("kid", "", "the key's `kid` (default: derived from the public key)")
	force := fs.Bool("force", false, "overwrite existing files")
	output := fs.String("o", "table", "output format: table or json")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return fmt.Errorf("%w: keys generate: --out is required (run 'jenkinds keys generate -h')", errUsage)
	case *output != "table" && *output != "json":
		return fmt.Errorf("%w: keys generate: -o %q: want table or json", errUsage, *output)
	}
	if !*force {
		for _, f := range []string{*out, *out + ".pub"} {
			if _, err := os.Lstat(f); err == nil {
				return fmt.Errorf("%s exists: choose another --out, or --force to replace it", f)
			}
		}
	}
	key, err := worker.GenerateKey(*alg)
	if err != nil {
		return fmt.Errorf("%w: keys generate: %v", errUsage, err)
	}
	private, err := key.PrivatePEM()
	if err != nil {
		return err
	}
	public, err := key.PublicPEM()
	if err != nil {
		return err
	}
	pair := keyPair{KID: *kid, Algorithm: key.Algorithm, PrivateKeyFile: *out, PublicKeyFile: *out + ".pub", PublicKey: string(public)}
	if pair.KID == "" {
		pair.KID = key.KID()
	}
	if err := writeNew(pair.PrivateKeyFile, private, 0o600, *force); err != nil {
		return err
	}
	if err := writeNew(pair.PublicKeyFile, public, 0o644, *force); err != nil {
		return err
	}
	cf := &clientFlags{output: *output}
	return cf.print(env.stdout, pair, func(w io.Writer) {
		fmt.Fprintf(w, "Private key: %s (keep it with the cluster's workers only)\n", pair.PrivateKeyFile)
		fmt.Fprintf(w, "Public key:  %s\n", pair.PublicKeyFile)
		fmt.Fprintf(w, "Algorithm:   %s\n", pair.Algorithm)
		fmt.Fprintf(w, "Kid:         %s\n\n", pair.KID)
		kidFlag := ""
		if *kid != "" {
			kidFlag = " --kid " + *kid
		}
		fmt.Fprintf(w, "Register it:  jenkinds buildclusters add-key <cluster> --public-key-file %s%s\n", pair.PublicKeyFile, kidFlag)
		fmt.Fprintf(w, "Run a worker: jenkinds worker --server <jenkinds URL> --cluster <cluster> --key %s%s --executor shell\n",
			pair.PrivateKeyFile, kidFlag)
		fmt.Fprintln(w, strings.TrimRight(string(public), "\n"))
	})
}

// writeNew writes data to path with mode, refusing to replace a file
// unless force.
func writeNew(path string, data []byte, mode os.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: choose another --out, or --force to replace it", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		// An existing file keeps its mode through O_TRUNC: a private key
		// must not stay readable by others.
		if err := f.Chmod(mode); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
