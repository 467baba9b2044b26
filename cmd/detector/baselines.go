package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/pipeline"
	"github.com/toolwatch/toolwatch/snapshot"
)

// baselinesReport is the --json output of `detector baselines`.
type baselinesReport struct {
	Snapshot  snapshotMeta      `json:"snapshot"`
	Baselines []detect.Baseline `json:"baselines"`
}

type snapshotMeta struct {
	LastAppliedSeq uint64    `json:"last_applied_seq"`
	Watermark      time.Time `json:"watermark"`
	CreatedAt      time.Time `json:"created_at"`
	Version        string    `json:"version"`
}

func cmdBaselines(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("baselines", stderr)
	snapPath := fs.String("snapshot", "", "snapshot file written by the daemon (snapshot.store: file); the deltas written after it are applied")
	cfgPath := fs.String("config", "", "configuration the snapshot is restored under (default: built-in defaults)")
	tool := fs.String("tool", "", "only tools matching this glob (path.Match syntax)")
	agent := fs.String("agent", "", "only agents matching this glob; the all-agents baseline has agent \"\"")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "baselines: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *snapPath == "" {
		fmt.Fprintln(stderr, "baselines: --snapshot FILE is required")
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	data, err := os.ReadFile(*snapPath)
	if err != nil {
		fmt.Fprintf(stderr, "baselines: %v\n", err)
		return 1
	}
	snap, err := snapshot.Decode(data)
	if err != nil {
		fmt.Fprintf(stderr, "baselines: %s: %v\n", *snapPath, err)
		return 1
	}
	// The deltas written after it (named after the snapshot file, also
	// for its .prev), up to the first unusable one, as the daemon does.
	store := &snapshot.FileStore{Path: strings.TrimSuffix(*snapPath, ".prev")}
	deltas, problems := snapshot.ReadChain(context.Background(), store, snap, snapshot.ID(data))
	for _, pr := range problems {
		fmt.Fprintf(stderr, "baselines: %s: %v; the deltas before it are applied\n", pr.Source, pr.Err)
	}
	links := make([]pipeline.Link, len(deltas))
	for i, d := range deltas {
		links[i] = pipeline.Link{Whole: d.Whole, Changes: d.Changes}
		snap.LastAppliedSeq, snap.Watermark, snap.CreatedAt = d.LastAppliedSeq, d.Watermark, d.CreatedAt
	}
	// Restored as the daemon restores it (app.restore).
	p, err := pipeline.Build(cfg, time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "baselines: %v\n", err)
		return 1
	}
	missing, err := p.UnmarshalChain(snap.Sections, links)
	if err != nil {
		fmt.Fprintf(stderr, "baselines: %s: %v\n", *snapPath, err)
		return 1
	}
	for _, d := range missing {
		fmt.Fprintf(stderr, "baselines: the snapshot has no state for detector %s\n", d)
	}
	bs, _, err := p.Baselines(*tool, *agent, 0)
	if err != nil {
		fmt.Fprintf(stderr, "baselines: %v\n", err)
		return 2
	}
	meta := snapshotMeta{LastAppliedSeq: snap.LastAppliedSeq, Watermark: snap.Watermark.UTC(), CreatedAt: snap.CreatedAt.UTC(), Version: snap.Version}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(baselinesReport{Snapshot: meta, Baselines: bs}); err != nil {
			fmt.Fprintf(stderr, "baselines: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "snapshot: watermark %s, last applied sequence %d, written by %q\n\n",
		meta.Watermark.Format(time.RFC3339), meta.LastAppliedSeq, meta.Version)
	if len(bs) == 0 {
		fmt.Fprintln(stdout, "no baselines match")
		return 0
	}
	writeBaselinesTable(stdout, bs)
	return 0
}

// writeBaselinesTable prints one row per part of each baseline, its values
// as name=value sorted by name.
func writeBaselinesTable(w io.Writer, bs []detect.Baseline) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATTERN\tTOOL\tAGENT\tWARM\tJUDGED BY\tPART\tVALUES")
	for _, b := range bs {
		agent, judged := b.Agent, b.JudgedBy
		if agent == "" {
			agent = "(all)"
		}
		if judged == "" {
			judged = "-"
		}
		warm := "no"
		if b.Warm {
			warm = "yes"
		}
		for _, p := range b.Parts {
			names := make([]string, 0, len(p.Values))
			for k := range p.Values {
				names = append(names, k)
			}
			slices.Sort(names)
			vals := make([]string, len(names))
			for i, k := range names {
				vals[i] = k + "=" + formatValue(p.Values[k])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.Pattern, b.Tool, agent, warm, judged, p.Name, strings.Join(vals, " "))
		}
	}
	tw.Flush()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "none"
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return "none"
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []float64:
		s := make([]string, len(x))
		for i, f := range x {
			s[i] = strconv.FormatFloat(f, 'f', -1, 64)
		}
		return strings.Join(s, ",")
	case []uint16:
		s := make([]string, len(x))
		for i, n := range x {
			s[i] = strconv.Itoa(int(n))
		}
		return strings.Join(s, ",")
	case string:
		if x == "" {
			return `""`
		}
		return x
	}
	return fmt.Sprint(v)
}
