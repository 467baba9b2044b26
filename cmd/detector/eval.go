package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/eval/runner"
	"github.com/toolwatch/toolwatch/tools/sim"
	"github.com/toolwatch/toolwatch/tools/sim/fleet"
)

// cmdEval prints detection-quality figures (tools/eval): for simulated
// seeds (labeled set and normal-only twin, replayed in-process), or for
// files written by `detector simulate` (and optionally `detector replay`).
func cmdEval(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("eval", stderr)
	cfgPath := fs.String("config", "", "detector configuration (default: built-in defaults)")
	grace := fs.Duration("grace", runner.DefaultGrace, "an alert up to this long after an anomaly's end still matches it")
	check := fs.Bool("check", false, "exit 1 when the issue-9 targets are missed")
	// simulation mode
	seeds := fs.String("seeds", "tuning", "simulated seeds: tuning (1,2,3), held-out:N (the gate's rule), or a list 4,5,6")
	profile := fs.String("profile", sim.ProfileRealistic, "simulation profile: realistic, easy or fleet (tools/sim/fleet)")
	breakdown := fs.Bool("breakdown", false, "also list the twin's false alerts by pattern, detail, severity and key")
	hours := fs.Float64("hours", 0, "hours of event time (0: the profile's)")
	warmUp := fs.Duration("warm-up", 0, "anomaly-free start of each run (0: the profile's)")
	scale := fs.Float64("scale", 1, "traffic multiplier")
	jitter := fs.Duration("jitter", 2*time.Second, "out-of-order delivery of the simulated records")
	// file mode
	inPath := fs.String("in", "", "score this records file instead of simulating (JSON lines; .gz is decompressed)")
	planPath := fs.String("plan", "", "with --in: the anomalies it holds (detector simulate --plan); none means normal-only")
	alertsPath := fs.String("alerts", "", "with --in: its alerts (detector replay --out); default: replay --in now")
	twinPath := fs.String("twin", "", "with --in: a normal-only twin records file, replayed and scored too")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "eval: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	conf, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var labeled, twin eval.Result
	hasTwin := true
	if *inPath != "" {
		labeled, err = scoreFile(ctx, conf, *inPath, *planPath, *alertsPath, *grace)
		if err == nil && *twinPath != "" {
			twin, err = scoreFile(ctx, conf, *twinPath, "", "", *grace)
		}
		hasTwin = *twinPath != ""
		if err != nil {
			fmt.Fprintf(stderr, "eval: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\nlabeled set:\n%s", *inPath, labeled)
		if hasTwin {
			fmt.Fprintf(stdout, "\ntwin %s:\n%s", *twinPath, twin)
		}
	} else {
		p, err := parseProfile(*profile)
		if err != nil && *profile != profileFleet {
			fmt.Fprintf(stderr, "eval: %v\n", err)
			return 2
		}
		list, err := parseSeeds(*seeds)
		if err != nil {
			fmt.Fprintf(stderr, "eval: --seeds: %v\n", err)
			return 2
		}
		var reps []runner.SeedReport
		for _, seed := range list {
			var rep runner.SeedReport
			if *profile == profileFleet {
				rep, err = runner.RunFleet(ctx, fleet.Config{Seed: seed, Duration: time.Duration(*hours * float64(time.Hour)), WarmUp: *warmUp, Scale: *scale},
					runner.Options{Config: conf, Grace: *grace})
			} else {
				cfg := sim.Config{Profile: p, Seed: seed, Duration: time.Duration(*hours * float64(time.Hour)), WarmUp: *warmUp, Scale: *scale, Jitter: *jitter}
				rep, err = runner.RunSeed(ctx, cfg, runner.Options{Config: conf, Grace: *grace})
			}
			if err != nil {
				fmt.Fprintf(stderr, "eval: seed %d: %v\n", seed, err)
				return 1
			}
			fmt.Fprintf(stdout, "== seed %d (%s; %d + %d twin records; %v)\nlabeled set:\n%s\ntwin:\n%s\n", seed, *profile,
				rep.Records, rep.TwinRecords, rep.Elapsed.Round(time.Millisecond), rep.Labeled, rep.Twin)
			if *breakdown {
				fmt.Fprintf(stdout, "twin's false alerts by pattern, detail, severity, key:\n%s\n", eval.FalseBreakdown(rep.Twin.FalseAlerts))
			}
			reps = append(reps, rep)
		}
		labeled, twin = runner.Merge(reps)
		if len(reps) > 1 {
			fmt.Fprintf(stdout, "== merged over seeds %s\nlabeled set:\n%s\ntwin:\n%s\n", *seeds, labeled, twin)
		}
		a, w := twin.NonEgress()
		fmt.Fprintf(stdout, "twin without egress: %.2f false alerts per 100k normal records (%.2f warning or above)\n", a, w)
	}
	if !hasTwin {
		twin = eval.Result{}
	}
	v := eval.IssueTargets.Check(labeled, twin)
	if !hasTwin {
		fmt.Fprintln(stdout, "targets (no twin given: the twin targets are not checked):")
	} else {
		fmt.Fprintln(stdout, "targets (issue 9):")
	}
	if len(v) == 0 {
		fmt.Fprintln(stdout, "  all met")
	}
	for _, line := range v {
		fmt.Fprintf(stdout, "  MISSED: %s\n", line)
	}
	if *check && len(v) > 0 {
		return 1
	}
	return 0
}

func parseSeeds(s string) ([]uint64, error) {
	switch {
	case s == "tuning":
		return eval.TuningSeeds, nil
	case strings.HasPrefix(s, "held-out:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "held-out:"))
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("%q: want held-out:N with 1 <= N <= 100", s)
		}
		return eval.HeldOutSeeds(n), nil
	}
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, x)
	}
	return out, nil
}

// scoreFile scores a records file against its plan. Normal records are the
// records outside every anomaly's (agent, tool, [Start, End)) window: the
// file carries no labels, so normal calls of an anomalous key during its
// window are left out of the denominator (a slight overestimate of the
// false-alarm rate).
func scoreFile(ctx context.Context, conf *config.Config, inPath, planPath, alertsPath string, grace time.Duration) (eval.Result, error) {
	var plan []sim.Anomaly
	if planPath != "" {
		var err error
		if plan, err = readPlan(planPath); err != nil {
			return eval.Result{}, err
		}
	}
	normal, last, err := countNormal(inPath, plan)
	if err != nil {
		return eval.Result{}, err
	}
	var alerts []alert.Alert
	if alertsPath != "" {
		f, err := os.Open(alertsPath)
		if err != nil {
			return eval.Result{}, err
		}
		alerts, err = eval.ParseAlerts(f)
		f.Close()
		if err != nil {
			return eval.Result{}, fmt.Errorf("%s: %w", alertsPath, err)
		}
	} else {
		in, closeIn, err := openInput(inPath, nil)
		if err != nil {
			return eval.Result{}, err
		}
		alerts, _, err = runner.Replay(ctx, in, conf, last.Add(time.Hour))
		closeIn()
		if err != nil {
			return eval.Result{}, fmt.Errorf("%s: %w", inPath, err)
		}
	}
	return eval.Score(plan, alerts, normal, grace), nil
}

func readPlan(path string) ([]sim.Anomaly, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var plan []sim.Anomaly
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var a sim.Anomaly
		if err := dec.Decode(&a); errors.Is(err, io.EOF) {
			return plan, nil
		} else if err != nil {
			return nil, fmt.Errorf("plan %s: anomaly %d: %w", path, len(plan)+1, err)
		}
		plan = append(plan, a)
	}
}

// countNormal counts the records of path outside the plan's windows and
// returns the latest timestamp seen.
func countNormal(path string, plan []sim.Anomaly) (int, time.Time, error) {
	in, closeIn, err := openInput(path, nil)
	if err != nil {
		return 0, time.Time{}, err
	}
	defer closeIn()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	var last time.Time
	normal := 0
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		if err := dec.Decode(b, &r); err != nil {
			continue // replay reports invalid lines; they are not records
		}
		if r.Timestamp.After(last) {
			last = r.Timestamp
		}
		in := false
		for _, a := range plan {
			if a.AgentID == r.AgentID && a.Tool == r.Tool.Name && !r.Timestamp.Before(a.Start) && r.Timestamp.Before(a.End) {
				in = true
				break
			}
		}
		if !in {
			normal++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, time.Time{}, fmt.Errorf("read %s: %w", path, err)
	}
	return normal, last, nil
}
