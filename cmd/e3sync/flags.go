package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Every command has a flag set of its own (the flags it uses, nothing else),
// parsed by parseFlags: -h or --help prints the command's usage on stdout
// and exits 0; a flag the command does not have is a usage error (exit 2).

// command describes one command for its usage text.
type command struct {
	name     string
	synopsis string // the arguments after "e3sync <name>"
	about    string // what the command does
	env      bool   // reads the token and the endpoints from the environment
}

var commands = map[string]command{
	"sync": {name: "sync", synopsis: "--dest DEST [flags]", env: true, about: `Copies what is new or changed in the export into DEST (s3://bucket/prefix or a
local directory), writes each date's _SUCCESS once the whole date is there,
and prints a summary. A re-run copies nothing that is already in place; an
interrupted run (Ctrl-C) continues where it stopped.`},
	"plan": {name: "plan", synopsis: "--dest DEST [flags]", env: true, about: `Shows what 'e3sync sync' with the same flags would copy: dates, sub-partitions,
objects and bytes. A dry run: it writes nothing, not even DEST.`},
	"verify": {name: "verify", synopsis: "--dest DEST [flags]", env: true, about: `Compares the destination with the export for the selected dates and types,
reading both sides in full (SHA-256 of every object), and prints every
difference and the one command that repairs them. Exit 1 on any difference.
It never writes.`},
	"status": {name: "status", synopsis: "--dest DEST [flags]", env: true, about: statusAbout},
	"catalog": {name: "catalog", synopsis: "--dest s3://BUCKET/PREFIX/ --glue-database DB [flags]", about: `Makes the Glue partitions of every date in the destination exactly its
sub-partition folders: registers dates mirrored before partitions were
registered, and repairs partitions after sub-partitions were removed. It
reads only the destination: no token is needed.`},
	"demo": {name: "demo", synopsis: "[--dest DIR]", about: `Runs a sync against an embedded emulated Optimizely (an in-process S3 server
with a realistic export and a fake Authentication API) into a local
directory, three times: the first copy, a re-run that copies nothing, and the
day after. No AWS account or token is needed.`},
	"version": {name: "version", synopsis: "", about: "Prints the version."},
}

// newFlagSet returns the empty flag set of command name; parseFlags prints
// its messages, so the set itself prints nothing.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("e3sync "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. -h/--help prints the usage of command
// name on stdout and returns flag.ErrHelp (exit 0). A flag fs does not have
// or a malformed value is a usage error. Positional arguments are returned
// as a problem, to be reported with the others.
func parseFlags(fs *flag.FlagSet, name string, args []string, stdout io.Writer) ([]string, error) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, commands[name], fs)
		return nil, flag.ErrHelp
	case err != nil:
		return nil, usageErr(name, flagError(err, name))
	case fs.NArg() > 0:
		return []string{"unexpected arguments: " + strings.Join(fs.Args(), " ") + " (every setting is a --flag)"}, nil
	}
	return nil, nil
}

// flagError rewrites the flag package's parse errors with the two dashes
// the usage shows.
func flagError(err error, cmd string) string {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Sprintf("unknown flag --%s: 'e3sync %s' has no such flag", strings.TrimPrefix(f, "-"), cmd)
	}
	if f, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Sprintf("--%s needs a value", strings.TrimPrefix(f, "-"))
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		return "invalid value " + strings.Replace(rest, " for flag -", " for --", 1)
	}
	return msg
}

// usageError is every problem found in a command's flags and settings (exit
// 2), reported at once.
type usageError struct {
	cmd      string
	problems []string
}

// usageErr returns the usage error of cmd with problems.
func usageErr(cmd string, problems ...string) error {
	return &usageError{cmd: cmd, problems: problems}
}

func (e *usageError) Error() string {
	if len(e.problems) == 1 {
		return e.problems[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(e.problems), strings.Join(e.problems, "\n  "))
}

func (e *usageError) Unwrap() error { return errUsage }

// print writes the error the way every command reports bad flags; msg is
// its text as returned (secrets redacted).
func (e *usageError) print(w io.Writer, msg string) {
	name := "e3sync"
	if e.cmd != "" {
		name += " " + e.cmd
	}
	fmt.Fprintf(w, "%s: %s\n", name, msg)
	fmt.Fprintf(w, "Run '%s -h' for usage.\n", name)
}

// printUsage writes one command's usage: synopsis, what it does, its flags
// and, for the commands that read it, the environment.
func printUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: e3sync %s %s\n\n%s\n", c.name, c.synopsis, c.about)
	if fs != nil {
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(w, "\nFlags:\n")
			printFlags(w, fs)
		}
	}
	if c.env {
		fmt.Fprint(w, "\nEnvironment:\n"+envHelp)
	}
}

// printFlags lists a flag set's flags as "--name value" with their usage
// and default, like flag.PrintDefaults but with the two dashes the README
// and the errors use.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		usage = strings.ReplaceAll(usage, "\n", "\n    \t")
		fmt.Fprintf(w, "%s\n    \t%s", line, usage)
		if !isZeroValue(f) {
			if _, ok := f.Value.(interface{ IsBoolFlag() bool }); ok || kind != "string" {
				fmt.Fprintf(w, " (default %v)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

func isZeroValue(f *flag.Flag) bool {
	z := reflect.New(reflect.TypeOf(f.Value).Elem()).Interface().(flag.Value)
	return f.DefValue == z.String()
}

// flagsSet returns the names of the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// warn prints a warning about settings that are allowed but probably not
// what was meant.
func warn(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "e3sync: warning: "+format+"\n", args...)
}

// plural is "1 date", "2 dates".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
