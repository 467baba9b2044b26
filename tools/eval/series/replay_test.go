package series_test

import (
	"context"
	"flag"
	"os"
	"testing"

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
