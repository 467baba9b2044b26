package series

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/detect"
)

var update = flag.Bool("update", false, "rewrite testdata (the fixture series and the golden table)")

func TestParseCSV(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int    // points
		err      string // substring; "" for none
	}{
		{"nab with label", "timestamp,value,label\n2014-03-07 03:41:00,45.868,0\n2014-03-07 03:46:00,47.6,0\n", 2, ""},
		{"crlf and blank lines", "timestamp,value\r\n\r\n2015-02-26 21:42:53,57\r\n2015-02-26 21:47:53,43\r\n", 2, ""},
		{"value column first", "value,timestamp\n3,2014-03-07 03:41:00\n", 1, ""},
		{"rfc3339", "timestamp,value\n2014-03-07T03:41:00Z,1\n", 1, ""},
		{"equal timestamps", "timestamp,value\n2014-03-09 03:00:00,1\n2014-03-09 03:00:00,2\n", 2, ""},
		{"header only", "timestamp,value\n", 0, ""},
		{"empty", "", 0, "empty"},
		{"no value column", "timestamp,count\n2014-03-07 03:41:00,1\n", 0, "line 1: header must name"},
		{"bad value", "timestamp,value\n2014-03-07 03:41:00,abc\n", 0, "line 2: value \"abc\""},
		{"negative", "timestamp,value\n2014-03-07 03:41:00,-1\n", 0, "line 2: value"},
		{"nan", "timestamp,value\n2014-03-07 03:41:00,NaN\n", 0, "line 2: value"},
		{"bad time", "timestamp,value\n07/03/2014,1\n", 0, "line 2: timestamp \"07/03/2014\""},
		{"short row", "timestamp,value\n2014-03-07 03:41:00\n", 0, "line 2: 1 columns"},
		{"out of order", "timestamp,value\n2014-03-07 03:41:00,1\n2014-03-07 03:40:00,1\n", 0, "line 3: timestamp 2014-03-07 03:40:00 before"},
		{"line too long", "timestamp,value\n" + strings.Repeat("9", 5000) + "\n", 0, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseCSV("x.csv", strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Points) != tc.want {
				t.Fatalf("%d points, want %d", len(s.Points), tc.want)
			}
		})
	}
}

func TestParseWindows(t *testing.T) {
	good := `{"a/x.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]], "b/y.csv": []}`
	w, err := ParseWindows(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := w["a/x.csv"]; len(got) != 1 || got[0].Start != time.Date(2014, 4, 10, 7, 15, 0, 0, time.UTC) || got[0].End != time.Date(2014, 4, 11, 16, 45, 0, 0, time.UTC) {
		t.Fatalf("windows = %v", w)
	}
	for _, bad := range []string{`[]`, `{"a": [["2014-04-10 07:15:00"]]}`, `{"a": [["x", "2014-04-10 07:15:00"]]}`,
		`{"a": [["2014-04-11 07:15:00", "2014-04-10 07:15:00"]]}`, `{`} {
		if _, err := ParseWindows(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("timestamp,value,label\n2014-03-07 03:41:00,45.868,0\n2014-03-07 03:46:00,47.6,0\n"))
	f.Add([]byte("value,timestamp\n1,2014-03-07T03:41:00Z\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseCSV("f.csv", bytes.NewReader(b))
		if err != nil {
			return
		}
		for i, p := range s.Points {
			if !(p.V >= 0) || p.V > 1e308 || (i > 0 && p.T.Before(s.Points[i-1].T)) {
				t.Fatalf("point %d = %+v accepted", i, p)
			}
		}
	})
}

func FuzzParseWindows(f *testing.F) {
	f.Add([]byte(`{"a/x.csv": [["2014-04-10 07:15:00.000000", "2014-04-11 16:45:00.000000"]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseWindows(bytes.NewReader(b))
		if err != nil {
			return
		}
		for n, ws := range w {
			for _, x := range ws {
				if x.End.Before(x.Start) {
					t.Fatalf("%s: window %v accepted", n, x)
				}
			}
		}
	})
}

// The scoring rules on hand-made alerts: inside/outside windows, windows
// hit, the per key-day maxima and the detail recovered from the
// fingerprint.
func TestScore(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	mk := func(status, detail string, at time.Duration) alert.Alert {
		f := detect.Finding{Pattern: detect.PatternLatency, AgentID: "a", Tool: "t", Detail: detail}
		return alert.Alert{Status: status, Pattern: f.Pattern, AgentID: "a", Tool: "t", Fingerprint: alert.Fingerprint(&f), EventTime: day.Add(at)}
	}
	ws := []Window{{day.Add(10 * time.Hour), day.Add(12 * time.Hour)}, {day.Add(40 * time.Hour), day.Add(41 * time.Hour)}}
	alerts := []alert.Alert{
		mk(alert.StatusFiring, "level_shift_up", 11*time.Hour),
		mk(alert.StatusResolved, "level_shift_up", 11*time.Hour+30*time.Minute),
		mk(alert.StatusFiring, "slow", 12*time.Hour),
		mk(alert.StatusFiring, "slow", 13*time.Hour),
		mk(alert.StatusFiring, "level_shift_down", 30*time.Hour),
		mk(alert.StatusFiring, "mystery", 31*time.Hour),
	}
	var r Report
	r.Details = map[string]int{}
	score(&r, alerts, ws)
	if r.Firing != 5 || r.Inside != 2 || r.Outside != 3 || r.WindowsHit != 1 || r.MaxKeyDay != 3 || r.MaxKeyDayNormal != 2 {
		t.Fatalf("report = %+v", r)
	}
	if got, want := r.DetailList(), "latency/?×1, latency/level_shift_down×1, latency/level_shift_up×1, latency/slow×2"; got != want {
		t.Fatalf("details %q, want %q", got, want)
	}
	if len(r.FirstDelay) != 1 || r.FirstDelay[0] != time.Hour {
		t.Fatalf("first delay %v", r.FirstDelay)
	}
}

func TestSynthDeterministic(t *testing.T) {
	for _, sh := range Shapes {
		a, wa := Synth(sh, 5*time.Minute, 3, 1)
		b, _ := Synth(sh, 5*time.Minute, 3, 1)
		if len(a.Points) != 3*288 || len(a.Points) != len(b.Points) {
			t.Fatalf("%s: %d points", sh, len(a.Points))
		}
		for i := range a.Points {
			if a.Points[i] != b.Points[i] {
				t.Fatalf("%s: point %d differs", sh, i)
			}
		}
		anomalous := sh == ShapeJumpUp || sh == ShapeCollapse || sh == ShapeSpikeDense || sh == ShapeJump2x || sh == ShapeTrough ||
			sh == ShapeDailyFlat || sh == ShapeDailyJumpDown || sh == ShapeSpread ||
			sh == ShapeLBSpikes || sh == ShapeRamp || sh == ShapeAmpHalf || sh == ShapeFlatSteps || sh == ShapeSquareJump
		if anomalous != (len(wa) == 1) {
			t.Fatalf("%s: windows %v", sh, wa)
		}
	}
}

// fixtureShapes are the series of testdata/fixture: generated by Synth
// (three days at five-minute steps), not public data.
var fixtureShapes = []Shape{ShapeBursty, ShapeJumpUp, ShapeCollapse}

// The fixture replays to the golden table (regenerate with -update after
// a deliberate change of the detectors).
func TestFixtureGolden(t *testing.T) {
	dir := filepath.Join("testdata", "fixture")
	winFile := filepath.Join("testdata", "fixture_windows.json")
	if *update {
		writeFixture(t, dir, winFile)
	}
	reps, err := ReplayDir(context.Background(), dir, winFile, []Mode{ModeDuration, ModeOutput}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Table(&b, reps); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "fixture.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("table differs from %s:\ngot:\n%s\nwant:\n%s", golden, b.Bytes(), want)
	}
}

func writeFixture(t *testing.T, dir, winFile string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "synthetic"), 0o755); err != nil {
		t.Fatal(err)
	}
	var wj strings.Builder
	wj.WriteString("{\n")
	for i, sh := range fixtureShapes {
		s, ws := Synth(sh, 5*time.Minute, 3, 7)
		var b strings.Builder
		b.WriteString("timestamp,value\n")
		for _, p := range s.Points {
			b.WriteString(p.T.Format(time.DateTime) + "," + strconvF(p.V) + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(s.Name)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		wj.WriteString("    \"" + s.Name + "\": [")
		for j, w := range ws {
			if j > 0 {
				wj.WriteString(", ")
			}
			wj.WriteString("[\"" + w.Start.Format("2006-01-02 15:04:05.000000") + "\", \"" + w.End.Format("2006-01-02 15:04:05.000000") + "\"]")
		}
		wj.WriteString("]")
		if i < len(fixtureShapes)-1 {
			wj.WriteString(",")
		}
		wj.WriteString("\n")
	}
	wj.WriteString("}\n")
	if err := os.WriteFile(winFile, []byte(wj.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
