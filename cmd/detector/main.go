// Command detector is Toolwatch's daemon and tools: it reads AI-agent audit
// records, detects anomalies in event time and raises alerts.
//
//	detector [run] [--config config.yaml]   the daemon
//	detector replay --config F --in records.jsonl --out alerts.jsonl
//	detector check-config F
//	detector simulate --out records.jsonl   synthetic traffic with labeled anomalies
//	detector demo
//	detector bench [--records N] [--rate R] [--duration D]   end-to-end load harness
package main

import (
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

const usage = `usage:
  detector [run] [--config config.yaml]      run the daemon
  detector replay --config F --in records.jsonl --out alerts.jsonl
                                             event-time backtest ('-' is stdin/stdout)
  detector check-config F                    validate a configuration file
  detector simulate [--out F] [--hours N]    write synthetic audit records with injected anomalies
  detector simulate --nats URL --rate N --duration D
                                             publish simulated traffic to a NATS server in real time
  detector demo                              embedded NATS + simulated agents + injected anomalies, alerts live
  detector bench [--records N] [--rate R] [--duration D] [--nats-url URL]
                                             raw consumer vs daemon rate, alert latency, peak RSS
`

// run dispatches a subcommand and returns the process exit code:
// 0 success, 1 failure, 2 usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "replay":
		return cmdReplay(args, stdin, stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args, stdout, stderr)
	case "simulate":
		return cmdSimulate(args, stdout, stderr)
	case "run":
		return cmdRun(args, stdout, stderr)
	case "demo":
		return cmdDemo(args, stdout, stderr)
	case "bench":
		return cmdBench(args, stdout, stderr)
	case "help", "-h", "--help":
		io.WriteString(stdout, usage)
		return 0
	}
	io.WriteString(stderr, "detector: unknown command "+cmd+"\n"+usage)
	return 2
}
