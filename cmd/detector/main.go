// Command detector is Toolwatch's daemon and tools: it reads AI-agent audit
// records, detects anomalies in event time and raises alerts.
//
//	detector [run] [--config config.yaml]   the daemon
//	detector replay --config F --in records.jsonl --out alerts.jsonl
//	detector check-config F
//	detector triage list | accept TOOL DEST | reject TOOL DEST   egress triage on a running daemon
//	detector shape --tool NAME [--key-file F]   record fields of a raw tool input from stdin
//	detector simulate --out records.jsonl   synthetic traffic with labeled anomalies
//	detector eval [--seeds held-out:4]      detection-quality figures (labeled set + normal-only twin)
//	detector demo
//	detector version
//	detector help [COMMAND]
//	detector bench [--records N] [--rate R] [--duration D]   end-to-end load harness
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/toolwatch/toolwatch/internal/buildinfo"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run dispatches a subcommand and returns the process exit code:
// 0 success, 1 failure, 2 usage error. Flags without a command go to run.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "-h" || a == "--help" || a == "-help":
			writeOverview(stdout)
			return 0
		case a == "--version" || a == "-version":
			return cmdVersion(args[1:], stdout, stderr)
		case a != "" && a[0] != '-':
			cmd, args = a, args[1:]
		}
	}
	c := lookup(cmd)
	if c == nil {
		fmt.Fprintf(stderr, "detector: unknown command %q\n\n", cmd)
		writeOverview(stderr)
		return 2
	}
	return c.run(args, stdin, stdout, stderr)
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "version: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	io.WriteString(stdout, buildinfo.Read().String())
	return 0
}
