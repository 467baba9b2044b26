package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/egress"
)

// TestTriage runs the command against a stand-in of the daemon's
// /api/egress/triage that checks what the command sends.
func TestTriage(t *testing.T) {
	const dest = "account:3f9a0c6e2b7d41a8c0e5f1d2b3a49687"
	entries := []egress.Entry{{Tool: "send_money", Destination: dest, Status: egress.StatusPending,
		FirstSeen: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Count: 3, Score: 53.1, Fingerprint: "0123456789abcdef", Agent: "a1", TaskID: "t1"}}
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if r.URL.Path != "/api/egress/triage" || u != "ops" || p != "s3cret" {
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			var body map[string]string
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("X-Requested-By") == "" {
				http.Error(rw, "bad request", http.StatusBadRequest)
				return
			}
			if body["destination"] != dest {
				http.Error(rw, "destination must be a \"type:hex\" destination hash", http.StatusBadRequest)
				return
			}
			got = append(got, body["action"]+" "+body["tool"]+" "+body["destination"])
			entries = nil
		}
		json.NewEncoder(rw).Encode(triageList{Entries: entries})
	}))
	defer srv.Close()
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte("s3cret\n"), 0o600)
	auth := []string{"--url", srv.URL, "--user", "ops", "--password-file", pf}

	code, out, errs := runCLI(t, "", append([]string{"triage"}, append(auth, "list")...)...)
	if code != 0 || !strings.Contains(out, "pending  send_money  "+dest+"  2026-03-01T09:00:00Z  3") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
	}
	// Flags after the action work too.
	code, out, errs = runCLI(t, "", append([]string{"triage", "accept", "send_money", dest}, auth...)...)
	if code != 0 || len(got) != 1 || got[0] != "accept send_money "+dest || !strings.Contains(errs, "accepted") {
		t.Fatalf("accept: exit %d %v\n%s\n%s", code, got, out, errs)
	}
	if code, _, errs := runCLI(t, "", append([]string{"triage", "reject", "send_money", "account:zz"}, auth...)...); code != 1 || !strings.Contains(errs, "400") {
		t.Fatalf("bad destination: exit %d %s", code, errs)
	}
	if code, _, errs := runCLI(t, "", "triage", "--url", srv.URL, "list"); code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("no auth: exit %d %s", code, errs)
	}
	for _, bad := range [][]string{{"triage"}, {"triage", "accept", "x"}, {"triage", "drop", "a", "b"}, {"triage", "list", "extra"}} {
		if code, _, _ := runCLI(t, "", bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
}
