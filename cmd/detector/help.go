package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command describes a subcommand for `detector help`.
type command struct {
	name     string
	args     string // synopsis after the name
	summary  string // one line, for the command list
	about    string // a paragraph for `detector help NAME`
	examples []string
	run      func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands in the order `detector help` lists them. Filled in init, since
// the help command refers to the list.
var commands []command

func init() {
	commands = []command{
		{name: "run", args: "[flags]", summary: "run the daemon (the default command)",
			about: "Consumes audit records from NATS JetStream (or an embedded server when nats.url is empty), " +
				"detects anomalies in event time and sends alerts to the configured sinks. " +
				"SIGHUP, a change of the file or POST /-/reload reloads the configuration.",
			examples: []string{
				"detector run",
				"detector run --config /etc/toolwatch/config.yaml",
				"detector run --nats-url nats://nats.internal:4222 --alertmanager-url http://alertmanager:9093",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdRun(args, stdout, stderr) }},
		{name: "demo", args: "[flags]", summary: "the daemon on an embedded NATS server with simulated agents and injected anomalies",
			about: "Publishes a backlog of simulated traffic (baselines warm up in seconds, since detection runs in event time), " +
				"then live traffic with one injected anomaly of each pattern, and prints alerts as they fire.",
			examples: []string{"detector demo", "detector demo --live 2m --listen 127.0.0.1:9464"},
			run:      func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdDemo(args, stdout, stderr) }},
		{name: "replay", args: "[--config FILE] [--in FILE] [--out FILE]", summary: "event-time backtest of a JSON-lines file of audit records",
			about: "Runs the daemon's pipeline over the records in event time and writes one alert per line; " +
				"the output is byte-for-byte identical across runs. Invalid lines are reported on stderr and counted.",
			examples: []string{
				"detector replay --in records.jsonl --out alerts.jsonl",
				"zcat records.jsonl.gz | detector replay --config config.yaml > alerts.jsonl",
			},
			run: cmdReplay},
		{name: "verify", args: "[--in FILE] [--config FILE] [--key ID=FILE]...",
			summary: "check the hash chains and signed checkpoints of a JSON-lines file of audit records",
			about: "Offline audit of tamper-evident records (docs/design.md §2.1) with the chain_integrity detector's verifier: " +
				"reports records, producers, gaps, forks, altered records and previous-hash mismatches with their line numbers, " +
				"and checkpoint signatures checked against the configured public keys. Exit status 0 when every chain verifies, " +
				"1 on any finding or unreadable line, 2 on a usage or I/O error.",
			examples: []string{
				"detector verify --in records.jsonl.gz --key prod-2026=/etc/toolwatch/keys/prod-2026.pem",
				"detector verify --in export.jsonl --config /etc/toolwatch/config.yaml --json",
			},
			run: cmdVerify},
		{name: "simulate", args: "[flags]", summary: "synthetic audit records with labelled anomalies, to a file or to NATS",
			about: "Writes deterministic simulated traffic (several agents and tools, day/night cycle, drift, injected anomalies) " +
				"as JSON lines, or publishes it in real time to a NATS server with --nats.",
			examples: []string{
				"detector simulate --out records.jsonl --plan plan.jsonl",
				"detector simulate --nats nats://127.0.0.1:4222 --rate 2 --duration 10m",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
				return cmdSimulate(args, stdout, stderr)
			}},
		{name: "eval", args: "[--seeds tuning|held-out:N|LIST] | --in FILE --plan FILE [--alerts FILE] [--twin FILE]",
			summary: "detection quality: recall, precision and false alarms on simulated seeds or on files",
			about: "Simulates each seed's labelled set and its normal-only twin, replays both through the pipeline and prints " +
				"recall per pattern, precision, false alerts per 100,000 normal records and the most alerts of one key in a day; " +
				"or scores files written by simulate and replay.",
			examples: []string{
				"detector eval --seeds held-out:4",
				"detector eval --in records.jsonl --plan plan.jsonl --alerts alerts.jsonl",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdEval(args, stdout, stderr) }},
		{name: "bench", args: "[--records N] [--rate R] [--duration D] [--nats-url URL] [--members 1,2]",
			summary: "load harness: raw JetStream consumer vs the daemon's rate, publish-to-alert latency, peak RSS",
			about: "Fills a stream with simulated records, measures an ack-only consumer and the real daemon on the same stream " +
				"in one run, then publishes live records at half the daemon's rate and times record to alert on the NATS sink. " +
				"Connects only to 127.0.0.1 unless --allow-remote; an embedded server when no --nats-url. " +
				"With --members, the same fill is drained instead by consumer groups of that many member processes of one core each, one group after the other.",
			examples: []string{
				"detector bench",
				"detector bench --nats-url nats://127.0.0.1:4222 --records 600000",
				"detector bench --members 1,2 --records 300000",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdBench(args, stdout, stderr) }},
		{name: "baselines", args: "--snapshot FILE [--config FILE] [--tool GLOB] [--agent GLOB] [--json]",
			summary: "what the detectors learned per key, read from a snapshot",
			about: "Restores the snapshot into a pipeline built from the configuration, as the daemon does at start, and prints per key " +
				"and detector the sample counts, quantiles, thresholds, tail fit, rate levels per time scale, known shapes and warm-up state, " +
				"computed by the detectors' own code under the names an alert's details use. The daemon serves the same as JSON at GET /api/baselines?tool=GLOB&agent=GLOB.",
			examples: []string{
				"detector baselines --snapshot ./data/toolwatch.snapshot --tool customer-lookup",
				"detector baselines --snapshot ./data/toolwatch.snapshot --agent 'support-*' --json",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
				return cmdBaselines(args, stdout, stderr)
			}},
		{name: "triage", args: "[flags] list | accept TOOL DESTINATION | reject TOOL DESTINATION",
			summary: "list, accept or reject the destinations the egress detector flagged, on a running daemon",
			about: "Talks to the daemon's /api/egress/triage (GET lists, POST decides; decisions need metrics.enable_lifecycle). " +
				"A flagged destination stays out of its tool's vocabulary until accepted; a rejected one alerts at every use. " +
				"Destinations are the keyed hashes records carry (type:hex), never raw values. Decisions are kept in snapshots.",
			examples: []string{
				"detector triage list",
				"detector triage accept send_money account:3f9a0c6e2b7d41a8c0e5f1d2b3a49687",
				"detector triage --url https://toolwatch.internal:9464 --user ops --password-file ops.pass reject send_email email:9b1c0d2e3f4a5b6c7d8e9f0a1b2c3d4e",
			},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdTriage(args, stdout, stderr) }},
		{name: "shape", args: "--tool NAME [--key-file FILE] [--config FILE] [--output]",
			summary: "a raw tool input's record fields (input_shape, hashed destinations) from stdin, for any runtime",
			about: "Reads one raw tool input (or, with --output, output) from stdin and prints the record fields computed from it as JSON: " +
				"input_shape and destinations, or output_destinations. Destinations are keyed hashes (type:32 hex digits) of the " +
				"normalised recipients, hosts, accounts, chat users and counterparties that the argument map selects for the tool; " +
				"raw values are never printed. Arguments that could not be read are named on stderr.",
			examples: []string{
				"detector shape --tool send_email --key-file /etc/toolwatch/dest.key < input.json",
				"detector shape --tool read_inbox --output --config config.yaml < output.json",
			},
			run: cmdShape},
		{name: "check-config", args: "FILE", summary: "validate a configuration file",
			about:    "Parses and validates FILE like the daemon does at start and reload; every problem is printed with its line and key.",
			examples: []string{"detector check-config config.yaml"},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
				return cmdCheckConfig(args, stdout, stderr)
			}},
		{name: "version", args: "", summary: "print the version, commit and Go version",
			examples: []string{"detector version", "detector --version"},
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
				return cmdVersion(args, stdout, stderr)
			}},
		{name: "help", args: "[COMMAND]", summary: "list the commands, or describe one",
			examples: []string{"detector help replay", "detector replay --help"},
			run:      func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return cmdHelp(args, stdout, stderr) }},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// writeOverview is `detector help`.
func writeOverview(w io.Writer) {
	fmt.Fprint(w, "detector: streaming anomaly detection for AI-agent audit trails (Toolwatch)\n\n")
	fmt.Fprint(w, "Usage:\n  detector [COMMAND] [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nFlags:\n  -h, --help     help for detector or, after a command, for that command\n")
	fmt.Fprint(w, "  --version      print the version, commit and Go version\n")
	fmt.Fprint(w, "\nExamples:\n  detector demo                                  try it: embedded NATS, simulated agents, live alerts\n")
	fmt.Fprint(w, "  detector --config config.yaml                  run the daemon (flags without a command go to run)\n")
	fmt.Fprint(w, "  detector simulate --out r.jsonl && detector replay --in r.jsonl\n")
	fmt.Fprint(w, "\nRun 'detector help COMMAND' or 'detector COMMAND --help' for a command's flags.\n")
}

// writeCommandHelp is `detector help NAME` and `detector NAME --help`; fs
// may be nil for a command without flags.
func writeCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "detector %s: %s\n\nUsage:\n  detector %s", c.name, c.summary, c.name)
	if c.args != "" {
		fmt.Fprintf(w, " %s", c.args)
	}
	fmt.Fprintln(w)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(c.about, 76, ""))
	}
	var rows [][2]string
	if fs != nil {
		fs.VisitAll(func(f *flag.Flag) {
			typ, usage := flag.UnquoteUsage(f)
			left := "--" + f.Name
			if typ != "" {
				left += " " + typ
			}
			if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "0s" {
				if typ == "string" || strings.ContainsAny(d, " ") {
					d = fmt.Sprintf("%q", d)
				}
				usage += " (default " + d + ")"
			}
			rows = append(rows, [2]string{left, usage})
		})
	}
	rows = append(rows, [2]string{"-h, --help", "this help"})
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	fmt.Fprint(w, "\nFlags:\n")
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], wrap(r[1], 76-width, strings.Repeat(" ", width+4)))
	}
	if len(c.examples) > 0 {
		fmt.Fprint(w, "\nExamples:\n")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

// wrap breaks s into lines of at most width runes (longer words stay
// whole), indenting continuation lines.
func wrap(s string, width int, indent string) string {
	width = max(width, 30)
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(s) {
		l := len([]rune(word))
		if i > 0 {
			if n+1+l > width {
				b.WriteString("\n" + indent)
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(word)
		n += l
	}
	return b.String()
}

// newFlagSet returns a FlagSet for command name whose errors go to stderr
// and whose --help is handled by parseFlags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs. When it returns ok false the command is
// done with exit code: 0 after printing the help asked for, 2 on a usage
// error (already reported on stderr).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		writeCommandHelp(stdout, lookup(fs.Name()), fs)
		return 0, false
	}
	fmt.Fprintf(stderr, "run 'detector %s --help' for usage\n", fs.Name())
	return 2, false
}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		writeOverview(stdout)
		return 0
	case len(args) == 1 && lookup(args[0]) != nil:
		// The command prints its own help, flags included.
		return lookup(args[0]).run([]string{"--help"}, strings.NewReader(""), stdout, stderr)
	case len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help"):
		writeCommandHelp(stdout, lookup("help"), nil)
		return 0
	}
	fmt.Fprintf(stderr, "detector help: unknown command %q; run 'detector help' for the list\n", strings.Join(args, " "))
	return 2
}
