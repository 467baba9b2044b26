package loadbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/group"
)

// Group phases (Config.Members): instead of one daemon and the live
// phase, the fill is drained once per member count n in Members by a
// fresh consumer group of n `detector run` processes (group name
// bench-<n>, so durables, snapshots and sketches start empty), each with
// GOMAXPROCS=1 and, when taskset exists, pinned to its own CPU (member i
// to CPU i mod NumCPU): the aggregate rate of n members of one core each
// against the same stream in the same run. The server, the bench and the
// other members share the machine, so n members cannot show n× on a
// machine with fewer than n+1 free cores.

// GroupResult is one group phase.
type GroupResult struct {
	Members int
	// Rate is records/s once the group is balanced (every partition's
	// durable is its rendezvous owner's) until every durable has nothing
	// pending or unacked: the records left at balance over that time.
	Rate float64
	// Balanced is how many records were left when it balanced.
	Balanced int
	// RateAll is records/s from the first delivery to the end, including
	// members joining one after the other and the hand-overs that makes.
	RateAll float64
	// Startup is from starting the processes to the first delivery.
	Startup time.Duration
	// CPU is the members' CPU time per record from balance to the end
	// (user + system, summed over members).
	CPU time.Duration
	// Pinned says whether taskset pinned the members.
	Pinned bool
	// Load is /proc/loadavg's 1-minute figure at the start and the end.
	Load [2]string
}

// memberConfig is a member's configuration: the built-in defaults with
// the group on and the stream already partitioned by the bench.
func memberConfig(n, i, partitions int, share time.Duration) string {
	return fmt.Sprintf(`group:
  enabled: true
  name: bench-%d
  member: m%d
  partitions: %d
  share_interval: %s
ingest:
  create_stream: false
snapshot:
  store: nats
sinks:
  log:
    enabled: false
`, n, i, partitions, share)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// memberProc is one running member.
type memberProc struct {
	cmd    *exec.Cmd
	exited chan error
	logf   *os.File
}

func (b *bench) startMember(exe, url, dir string, n, i int) (*memberProc, bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(memberConfig(n, i, b.cfg.Partitions, b.cfg.ShareInterval)), 0o600); err != nil {
		return nil, false, err
	}
	logf, err := os.Create(filepath.Join(dir, "detector.log"))
	if err != nil {
		return nil, false, err
	}
	args := []string{exe, "run", "--nats-url", url, "--listen", "127.0.0.1:0", "--config", cfgPath}
	pinned := false
	if ts, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{ts, "-c", strconv.Itoa(i % runtime.NumCPU())}, args...)
		pinned = true
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, false, err
	}
	p := &memberProc{cmd: cmd, exited: make(chan error, 1), logf: logf}
	go func() { p.exited <- cmd.Wait() }()
	return p, pinned, nil
}

func (p *memberProc) stop() error {
	defer p.logf.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			return fmt.Errorf("%w (log: %s)", err, p.logf.Name())
		}
		return nil
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not stop within 60s of SIGTERM (log: %s)", p.logf.Name())
	}
}

// groupPhase drains the fill with a group of n members.
func (b *bench) groupPhase(ctx context.Context, exe, url, dir string, n int) error {
	gr := GroupResult{Members: n, Load: [2]string{loadAvg(), ""}}
	began := time.Now()
	var procs []*memberProc
	stopAll := func() error {
		var errs []error
		for _, p := range procs {
			if err := p.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	for i := range n {
		p, pinned, err := b.startMember(exe, url, filepath.Join(dir, fmt.Sprintf("group-%d", n), fmt.Sprintf("m%d", i)), n, i)
		if err != nil {
			stopAll()
			return fmt.Errorf("bench: start member %d of %d: %w", i, n, err)
		}
		procs = append(procs, p)
		gr.Pinned = pinned
	}
	cpu := func() time.Duration {
		var s time.Duration
		for _, p := range procs {
			s += procCPU(p.cmd.Process.Pid)
		}
		return s
	}
	prefix := b.dcfg.Ingest.Consumer + "-bench-" + strconv.Itoa(n) + "-p"
	names := make([]string, n)
	for i := range names {
		names[i] = "m" + strconv.Itoa(i)
	}
	var t0, tb time.Time
	var cpuB time.Duration
	deadline := time.Now().Add(b.cfg.Timeout)
	for {
		st, err := b.partitionsState(ctx, prefix, names)
		now := time.Now()
		if err == nil {
			if t0.IsZero() && st.delivered {
				t0 = now
				gr.Startup = now.Sub(began)
			}
			if tb.IsZero() && st.balanced {
				tb, cpuB, gr.Balanced = now, cpu(), st.left
			}
			if st.left == 0 && !tb.IsZero() && !t0.IsZero() {
				gr.RateAll = rate(b.res.Records, now.Sub(t0))
				gr.Rate = rate(gr.Balanced, now.Sub(tb))
				if gr.Balanced > 0 {
					gr.CPU = (cpu() - cpuB) / time.Duration(gr.Balanced)
				}
				break
			}
		}
		if now.After(deadline) {
			stopAll()
			return fmt.Errorf("bench: %d members did not apply %d records within %s", n, b.res.Records, b.cfg.Timeout)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			stopAll()
			return err
		}
	}
	gr.Load[1] = loadAvg()
	b.res.Groups = append(b.res.Groups, gr)
	fmt.Fprintf(b.cfg.Progress, "group of %d: %d records left when balanced, at %.0f records/s (whole drain %.0f records/s, start-up %s, load %s → %s)\n",
		n, gr.Balanced, gr.Rate, gr.RateAll, gr.Startup.Round(time.Millisecond), gr.Load[0], gr.Load[1])
	if err := stopAll(); err != nil {
		return fmt.Errorf("bench: group of %d: %w", n, err)
	}
	return nil
}

type partitionsState struct {
	delivered bool // a partition's durable delivered a record
	balanced  bool // every partition has one durable, its rendezvous owner's
	left      int  // records pending or unacked over the partitions' durables (-1: not all exist)
}

// partitionsState reads the group's partition durables
// (<prefix><p>-<member>).
func (b *bench) partitionsState(ctx context.Context, prefix string, members []string) (partitionsState, error) {
	var st partitionsState
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := b.js.Stream(rctx, b.dcfg.Ingest.Stream)
	if err != nil {
		return st, err
	}
	owners := map[int][]string{}
	l := s.ListConsumers(rctx)
	for ci := range l.Info() {
		rest, ok := strings.CutPrefix(ci.Name, prefix)
		ps, member, ok2 := strings.Cut(rest, "-")
		p, err := strconv.Atoi(ps)
		if !ok || !ok2 || err != nil {
			continue
		}
		owners[p] = append(owners[p], member)
		if ci.Delivered.Stream > 0 {
			st.delivered = true
		}
		st.left += int(ci.NumPending) + ci.NumAckPending
	}
	if err := l.Err(); err != nil {
		return st, err
	}
	st.balanced = len(owners) == b.cfg.Partitions
	for p, ms := range owners {
		if len(ms) != 1 || ms[0] != group.Owner(members, p) {
			st.balanced = false
		}
	}
	if len(owners) != b.cfg.Partitions {
		st.left = -1
	}
	return st, nil
}

// createGroupStream makes the daemon's stream partitioned as members
// expect (group.EnsureStream); an existing stream is refused.
func (b *bench) createGroupStream(ctx context.Context) error {
	ic := b.dcfg.Ingest
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.js.Stream(rctx, ic.Stream); err == nil {
		return fmt.Errorf("bench: stream %s already exists on the server; run the bench on an empty server", ic.Stream)
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("bench: stream %s: %w", ic.Stream, err)
	}
	if _, err := group.EnsureStream(rctx, b.js, ic.StreamConfig(), b.cfg.Partitions); err != nil {
		return fmt.Errorf("bench: create stream %s: %w", ic.Stream, err)
	}
	return nil
}

// writeGroups prints a members run: the raw rates and one row per group.
func (r *Result) writeGroups(w io.Writer) error {
	rows := [][2]string{
		{"server", r.Server},
		{"records in the stream", strconv.Itoa(r.Records)},
		{"raw JetStream consumer (ack only)", fmt.Sprintf("%.0f records/s (%s)", r.RawRate, rates(r.RawRates))},
	}
	for _, g := range r.Groups {
		pin := "GOMAXPROCS=1 each"
		if g.Pinned {
			pin += ", pinned by taskset"
		}
		rows = append(rows, [2]string{fmt.Sprintf("%d member(s), aggregate once balanced", g.Members),
			fmt.Sprintf("%.0f records/s over the %d records left, CPU %s per record (%s; load %s → %s)",
				g.Rate, g.Balanced, cpuText(g.CPU), pin, g.Load[0], g.Load[1])},
			[2]string{fmt.Sprintf("%d member(s), whole drain", g.Members),
				fmt.Sprintf("%.0f records/s from the first delivery (start-up %s, joins and hand-overs included)", g.RateAll, g.Startup.Round(time.Millisecond))})
	}
	return writeRows(w, rows)
}
