package series_test

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/tools/eval/series"
)

var (
	seriesDir   = flag.String("series", "", "replay every *.csv under this directory (NAB layout: group/name.csv) and print the table")
	windowsFile = flag.String("windows", "", "NAB combined_windows.json for -series")
	alertsOut   = flag.Bool("alerts", false, "with -series: log every firing alert")
)

// TestReplayDir replays a local copy of public series (not part of the
// repository) when -series is given:
//
//	go test ./tools/eval/series -run TestReplayDir -v -series /tmp/nab/data -windows /tmp/nab/combined_windows.json
func TestReplayDir(t *testing.T) {
	if *seriesDir == "" {
		t.Skip("no -series directory given")
	}
	reps, err := series.ReplayDir(context.Background(), *seriesDir, *windowsFile,
		[]series.Mode{series.ModeDuration, series.ModeOutput}, series.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := series.Table(os.Stdout, reps); err != nil {
		t.Fatal(err)
	}
	if *alertsOut {
		for _, r := range reps {
			for _, a := range r.Alerts {
				t.Logf("%s %s %s %s/%s score %.0f observed %.0f expected %.0f: %s", r.Name, r.Mode, a.EventTime.Format("2006-01-02 15:04"),
					a.Pattern, a.Severity, a.Score, a.Observed, a.Expected, a.Summary)
			}
		}
	}
}

var (
	synthDays = flag.Int("synth-days", 0, "replay every Synth shape over this many days and print the table")
	synthStep = flag.Duration("synth-step", 5*time.Minute, "step of -synth-days")
)

// TestReplaySynth replays every Synth shape when -synth-days is given:
//
//	go test ./tools/eval/series -run TestReplaySynth -v -synth-days 10 -synth-step 1m
func TestReplaySynth(t *testing.T) {
	if *synthDays <= 0 {
		t.Skip("no -synth-days given")
	}
	var reps []series.Report
	for _, m := range []series.Mode{series.ModeDuration, series.ModeOutput} {
		for i, sh := range series.Shapes {
			s, ws := series.Synth(sh, *synthStep, *synthDays, uint64(11+i))
			r, err := series.Replay(context.Background(), s, ws, series.Options{Mode: m})
			if err != nil {
				t.Fatal(err)
			}
			reps = append(reps, r)
			if *alertsOut {
				for _, a := range r.Alerts {
					t.Logf("%s %s %s %s/%s score %.0f observed %.0f expected %.0f: %s", r.Name, r.Mode, a.EventTime.Format("2006-01-02 15:04"),
						a.Pattern, a.Severity, a.Score, a.Observed, a.Expected, a.Summary)
				}
			}
		}
	}
	if err := series.Table(os.Stdout, reps); err != nil {
		t.Fatal(err)
	}
}
