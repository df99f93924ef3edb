// Command jenkinds is one highly-available front door and scheduler for a
// fleet of Jenkins controllers and remote build clusters.
//
// Every capability is a subcommand; each lives in a file of its own in this
// directory and registers itself in init. main only parses the first word.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the jenkinds binary.
type command struct {
	name    string
	summary string
	// run executes the command. args excludes the command name. It returns
	// errUsage (wrapped or not) when the arguments were wrong.
	run func(ctx context.Context, args []string, env *environment) error
}

// environment is what a command may touch of the process: its streams and
// environment variables. Tests substitute their own.
type environment struct {
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks an error as a mistake in the command line: main prints it
// with a hint and exits with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environment{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(runMain(ctx, os.Args[1:], env))
}

func runMain(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return exitCode(c.run(ctx, []string{"-h"}, env), env)
			}
		}
		printHelp(env.stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "jenkinds: unknown command %q; run 'jenkinds help' for the list of commands\n", args[0])
		return 2
	}
	return exitCode(c.run(ctx, args[1:], env), env)
}

func exitCode(err error, env *environment) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "jenkinds: %v\n", err)
		return 2
	default:
		fmt.Fprintf(env.stderr, "jenkinds: %v\n", err)
		return 1
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "jenkinds: one highly-available front door and scheduler for a fleet of Jenkins controllers.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: jenkinds <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'jenkinds <command> -h' for the flags of a command.")
}

// newFlagSet returns a flag set whose usage text starts with the command's
// synopsis and description, and which reports errors instead of exiting.
func newFlagSet(env *environment, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "Usage: jenkinds %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a parse failure into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %s: %v (run 'jenkinds %s -h')", errUsage, fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q (run 'jenkinds %s -h')", errUsage, fs.Name(), fs.Arg(0), fs.Name())
	}
	return nil
}
