package main

import (
	"context"
	"fmt"

	"github.com/jenkinds/jenkinds/internal/server"
)

func init() {
	register(command{name: "secrets", summary: "manage the key that seals API tokens (rotate)", run: runSecrets})
}

const secretsHelp = `
  jenkinds secrets rotate [--data-dir DIR] [--database URL]

Re-seals every stored API token under a new key, in one transaction.

With the key file (<data-dir>/secret.key) the new key is generated, written
first as secret.key.next, and replaces secret.key once every token is
re-sealed; running jenkinds processes pick it up by themselves.

With JENKINDS_SECRET_KEY, put the new key in JENKINDS_NEW_SECRET_KEY (make
one with: openssl rand -base64 32), run rotate, then set JENKINDS_SECRET_KEY
to the new key on every replica and restart them.`

func runSecrets(ctx context.Context, args []string, env *environment) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.stderr, "Usage:"+secretsHelp)
		if len(args) == 0 {
			return fmt.Errorf("%w: secrets: name a subcommand: rotate", errUsage)
		}
		return nil
	}
	if args[0] != "rotate" {
		return fmt.Errorf("%w: secrets: unknown subcommand %q (want rotate)", errUsage, args[0])
	}
	fs := newFlagSet(env, "secrets rotate", "[flags]", secretsHelp)
	var f serveFlags
	addServeFlags(fs, env, &f)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	res, err := server.Rotate(ctx, cfg, env.getenv)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "Re-sealed %d API token(s): key %s → %s.\n", res.Resealed, res.OldKeyID, res.NewKeyID)
	if res.NewKey != "" {
		fmt.Fprintln(env.stdout, "Now set JENKINDS_SECRET_KEY to the value of JENKINDS_NEW_SECRET_KEY on every replica and restart them.")
	}
	return nil
}
