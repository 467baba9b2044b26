package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	core "github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/detect"
	detchain "github.com/toolwatch/toolwatch/detect/chain"
	"github.com/toolwatch/toolwatch/record"
)

// keyFlags collects repeated --key ID=FILE.
type keyFlags map[string]string

func (k keyFlags) String() string { return "" }

func (k keyFlags) Set(s string) error {
	id, file, ok := strings.Cut(s, "=")
	if !ok || id == "" || file == "" {
		return fmt.Errorf("want ID=FILE, got %q", s)
	}
	k[id] = file
	return nil
}

// Exit codes of verify: 0 every chain verified, 1 findings or unreadable
// lines, 2 usage or I/O errors.
func cmdVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("verify", stderr)
	inPath := fs.String("in", "-", "audit records, one JSON object per line ('-' is stdin; .gz is decompressed)")
	cfgPath := fs.String("config", "", "read the chain_integrity section (keys, gap_grace, history, checkpoint_every ...) and time.allowed_lateness from this config file")
	keys := keyFlags{}
	fs.Var(keys, "key", "checkpoint public key as `ID=FILE` (PEM, raw, hex or base64 Ed25519); repeatable, added to the config's keys")
	lateness := fs.Duration("lateness", 0, "records older than the newest minus this are late and skipped, as in the daemon (default: the config's time.allowed_lateness, 30s)")
	every := int64(-1)
	fs.Func("checkpoint-every", "at most `N` records between valid checkpoints (0 off; default: the config's checkpoint_every)", func(s string) error {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want an integer >= 0")
		}
		every = n
		return nil
	})
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	listed := fs.Int("max-listed", 20, "invalid or late lines listed in the report")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "verify: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, tc, err := verifyConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return 2
	}
	for id, f := range keys {
		cfg.Keys[id] = f
	}
	if every >= 0 {
		cfg.CheckpointEvery = every
	}
	if *lateness > 0 {
		tc.AllowedLateness = *lateness
	}
	ks, err := core.LoadKeys(cfg.Keys)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return 2
	}
	in, closeIn, err := openInput(*inPath, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return 2
	}
	defer closeIn()
	p := core.Params{History: cfg.History, MaxPending: cfg.MaxPending, GapGrace: cfg.GapGrace,
		CheckpointEvery: cfg.CheckpointEvery, CheckpointMaxAge: cfg.CheckpointMaxAge, MaxProducers: cfg.MaxProducers, IdleAfter: cfg.IdleAfter}
	rep, err := core.VerifyRecords(in, core.FileOptions{Params: p, Keys: ks, Lateness: tc.AllowedLateness,
		TickInterval: tc.TickInterval, Limits: record.DefaultLimits(), MaxListed: *listed})
	if err != nil {
		fmt.Fprintf(stderr, "verify: read %s: %v\n", *inPath, err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return 2
		}
	} else {
		writeVerifyReport(stdout, *inPath, rep)
	}
	if len(rep.Issues) > 0 || rep.Invalid > 0 {
		return 1
	}
	return 0
}

// verifyConfig reads the chain_integrity and time sections of a config
// file (defaults without one), validated as the daemon validates them.
func verifyConfig(path string) (detchain.Config, detect.TimeConfig, error) {
	var doc struct {
		Time      detect.TimeConfig `yaml:"time"`
		Detectors struct {
			Chain detchain.Config `yaml:"chain_integrity"`
		} `yaml:"detectors"`
	}
	doc.Time, doc.Detectors.Chain = detect.DefaultTimeConfig(), detchain.DefaultConfig()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return doc.Detectors.Chain, doc.Time, err
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return doc.Detectors.Chain, doc.Time, fmt.Errorf("%s: %w", path, err)
		}
		if es := doc.Detectors.Chain.Validate().Prefix("detectors.chain_integrity"); len(es) > 0 {
			return doc.Detectors.Chain, doc.Time, fmt.Errorf("%s: %w", path, es.Err())
		}
	}
	if doc.Detectors.Chain.Keys == nil {
		doc.Detectors.Chain.Keys = map[string]string{}
	}
	return doc.Detectors.Chain, doc.Time, nil
}

func writeVerifyReport(w io.Writer, name string, rep *core.Report) {
	st := rep.Stats
	if name == "-" {
		name = "stdin"
	}
	fmt.Fprintf(w, "%s: %d lines, %d records checked (%d invalid, %d late), %d producers\n",
		name, rep.Lines, st.Records, rep.Invalid, rep.Late, rep.Producers)
	fmt.Fprintf(w, "chained: %d records (%d in order, %d identical redeliveries, %d too old to judge), unchained: %d\n",
		st.Chained, st.Accepted, st.Duplicates, st.Stale, st.Unchained)
	fmt.Fprintf(w, "checkpoints: %d valid, %d bad signature, %d unknown key\n",
		st.CheckpointsValid, st.CheckpointsBad, st.CheckpointsUnknownKey)
	counts := map[string]int{}
	for _, is := range rep.Issues {
		counts[is.Kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "findings: %d", len(rep.Issues))
	for i, k := range kinds {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(w, "%s%d %s", sep, counts[k], k)
	}
	if len(kinds) > 0 {
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	issues := append([]core.Issue(nil), rep.Issues...)
	sort.SliceStable(issues, func(i, j int) bool { return issues[i].Ref < issues[j].Ref })
	for i := range issues {
		is := &issues[i]
		fmt.Fprintf(w, "  line %d: %s: %s", is.Ref, is.Kind, detchain.Summary(is))
		if is.PrevRef > 0 {
			fmt.Fprintf(w, " (first at line %d)", is.PrevRef)
		}
		fmt.Fprintln(w)
	}
	for _, l := range rep.Skipped {
		fmt.Fprintf(w, "  line %d: skipped: %s\n", l.N, l.Reason)
	}
	if n := rep.Invalid + rep.Late; n > int64(len(rep.Skipped)) {
		fmt.Fprintf(w, "  (%d more skipped lines not listed)\n", n-int64(len(rep.Skipped)))
	}
}
