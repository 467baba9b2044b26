package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/toolwatch/toolwatch/tools/loadbench"
)

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	var cfg loadbench.Config
	fs.IntVar(&cfg.Records, "records", 600_000, "simulated records in the stream before the raw and daemon phases")
	fs.Float64Var(&cfg.Rate, "rate", 0, "live-phase publish rate in records/s (0: half the daemon's measured rate)")
	fs.DurationVar(&cfg.Duration, "duration", 10e9, "length of the live (latency) phase")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server on 127.0.0.1 with JetStream and no stream of the daemon's name (empty: an embedded server)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "permit a --nats-url host that is not the loopback")
	fs.StringVar(&cfg.ConfigPath, "config", "", "daemon configuration (default: built-in defaults)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "simulation seed")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*60e9, "bound of each phase")
	cpuprofile := fs.String("cpuprofile", "", "write the child daemon's CPU profile (its whole run) to this file")
	inProcess := fs.Bool("in-process", false, "run the daemon inside the bench process instead of as a child `detector run`")
	members := fs.String("members", "", "member `counts`, e.g. 1,2: instead of the daemon and live phases, drain the fill once per count with a consumer group of that many member processes, GOMAXPROCS=1 each (pinned to CPUs by taskset when present)")
	fs.IntVar(&cfg.Partitions, "partitions", 12, "with --members: group.partitions of the partitioned stream")
	fs.DurationVar(&cfg.ShareInterval, "share-interval", 30e9, "with --members: the members' group.share_interval (0s: tool sketches not shared)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	for _, f := range strings.FieldsFunc(*members, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fmt.Fprintf(stderr, "bench: --members %q: %v\n", *members, err)
			return 2
		}
		cfg.Members = append(cfg.Members, n)
	}
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		cfg.Daemon = &loadbench.Process{Exe: exe, CPUProfile: *cpuprofile}
	} else if *cpuprofile != "" {
		fmt.Fprintln(stderr, "bench: --cpuprofile profiles the child daemon; it cannot be combined with --in-process")
		return 2
	}
	cfg.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := loadbench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if err := res.WriteTable(stdout); err != nil {
		return 1
	}
	return 0
}
