package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/toolwatch/toolwatch/detect/egress"
)

// triageList is the JSON of GET /api/egress/triage.
type triageList struct {
	Entries  []egress.Entry `json:"entries"`
	Unlisted uint64         `json:"unlisted"`
}

// cmdTriage is `detector triage list | accept TOOL DEST | reject TOOL DEST`
// against a running daemon's /api/egress/triage.
func cmdTriage(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("triage", stderr)
	url := fs.String("url", "http://127.0.0.1:9464", "the daemon's HTTP address (metrics.listen)")
	user := fs.String("user", "", "basic-auth user (metrics.web_config_file basic_auth_users)")
	passFile := fs.String("password-file", "", "file holding the basic-auth password")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", 15*time.Second, "request timeout")
	// Flags may come before or after the action and its arguments.
	var pos []string
	for rest := args; ; {
		if code, ok := parseFlags(fs, rest, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		pos, rest = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) == 0 {
		fmt.Fprintln(stderr, "triage: want list, accept TOOL DESTINATION or reject TOOL DESTINATION")
		return 2
	}
	action := pos[0]
	switch {
	case action == "list" && len(pos) == 1:
	case (action == "accept" || action == "reject") && len(pos) == 3:
	default:
		fmt.Fprintln(stderr, "triage: want list, accept TOOL DESTINATION or reject TOOL DESTINATION")
		return 2
	}
	var pass string
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			fmt.Fprintf(stderr, "triage: %v\n", err)
			return 1
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	endpoint := strings.TrimRight(*url, "/") + "/api/egress/triage"
	var req *http.Request
	var err error
	if action == "list" {
		req, err = http.NewRequest(http.MethodGet, endpoint, nil)
	} else {
		body, _ := json.Marshal(map[string]string{"action": action, "tool": pos[1], "destination": pos[2]})
		req, err = http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Requested-By", "detector triage")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "triage: %v\n", err)
		return 2
	}
	if *user != "" {
		req.SetBasicAuth(*user, pass)
	}
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "triage: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "triage: %v\n", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "triage: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	var l triageList
	if err := json.Unmarshal(body, &l); err != nil {
		fmt.Fprintf(stderr, "triage: bad answer from %s: %v\n", endpoint, err)
		return 1
	}
	if action != "list" {
		fmt.Fprintf(stderr, "%sed %s at %s\n", action, pos[2], pos[1])
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(l)
		return 0
	}
	printTriage(stdout, l)
	return 0
}

func printTriage(w io.Writer, l triageList) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tTOOL\tDESTINATION\tFIRST SEEN\tCOUNT\tSCORE\tFINGERPRINT\tAGENT\tTASK")
	for _, e := range l.Entries {
		first := "-"
		if !e.FirstSeen.IsZero() {
			first = e.FirstSeen.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%g\t%s\t%s\t%s\n", e.Status, e.Tool, e.Destination, first, e.Count, e.Score,
			orDash(e.Fingerprint), orDash(e.Agent), orDash(e.TaskID))
	}
	tw.Flush()
	if l.Unlisted > 0 {
		fmt.Fprintf(w, "%d more flagged destinations were not listed (pending list full: raise detectors.egress.max_pending)\n", l.Unlisted)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
