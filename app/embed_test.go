package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Two daemons embedded in one process, each with the registry and reload
// channel its caller hands it (as cmd/detector hands the default registry
// and SIGHUP): no metric is registered twice, a record counts only in the
// registry of the daemon that applied it, and a reload asked through
// Options.Reload is answered with nil or the reason it was rejected.
func TestEmbedTwiceOwnRegistriesReloadChannel(t *testing.T) {
	type embedded struct {
		cfgPath string
		reg     *prometheus.Registry
		reload  chan chan error
		info    Info
	}
	var ds [2]*embedded
	for i := range ds {
		d := &embedded{cfgPath: filepath.Join(t.TempDir(), "config.yaml"), reg: prometheus.NewRegistry(), reload: make(chan chan error)}
		writeFile(t, d.cfgPath, "log:\n  level: info\n")
		d.info = daemon(t, Options{ConfigPath: d.cfgPath, Registerer: d.reg, Reload: d.reload})
		ds[i] = d
	}
	a, b := ds[0], ds[1]

	// The daemons registered on the callers' registries, once each.
	for i, d := range ds {
		if n, err := testutil.GatherAndCount(d.reg, "toolwatch_build_info", "toolwatch_config_last_reload_successful"); err != nil || n != 2 {
			t.Errorf("caller's registry %d: %d of the daemon's series (err %v), want 2", i, n, err)
		}
	}
	newProducer(t, a.info.NATSURL).warmUp("agent-1", "search", 3)
	waitApplied(t, a.info.HTTPAddr, 3)
	const applied = `toolwatch_ingest_messages_total{result="applied"}`
	if got := metricValue(t, a.info.HTTPAddr, applied); got != 3 {
		t.Errorf("daemon A: %v records applied, want 3", got)
	}
	if got := metricValue(t, b.info.HTTPAddr, applied); got != 0 {
		t.Errorf("daemon B: %v records applied, want 0 (nothing was published to it)", got)
	}

	ask := func(d *embedded) error {
		t.Helper()
		errc := make(chan error, 1)
		select {
		case d.reload <- errc:
		case <-time.After(10 * time.Second):
			t.Fatal("daemon did not take the reload request within 10s")
		}
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("daemon did not answer the reload request within 10s")
		}
		return nil
	}
	writeFile(t, b.cfgPath, "log:\n  level: [\n")
	if err := ask(b); err == nil || !strings.Contains(err.Error(), "config.yaml") {
		t.Errorf("reload of a bad file answered %v, want an error naming the file", err)
	}
	if got := metricValue(t, b.info.HTTPAddr, "toolwatch_config_last_reload_successful"); got != 0 {
		t.Errorf("daemon B after a rejected reload: last_reload_successful %v, want 0", got)
	}
	if got := metricValue(t, a.info.HTTPAddr, "toolwatch_config_last_reload_successful"); got != 1 {
		t.Errorf("daemon A, not reloaded: last_reload_successful %v, want 1", got)
	}
	writeFile(t, b.cfgPath, "log:\n  level: info\nalerts:\n  cooldown: 20m\n")
	if err := ask(b); err != nil {
		t.Errorf("reload of a good file answered %v", err)
	}
	if got := metricValue(t, b.info.HTTPAddr, "toolwatch_config_last_reload_successful"); got != 1 {
		t.Errorf("daemon B after an accepted reload: last_reload_successful %v, want 1", got)
	}
	if err := ask(a); err != nil {
		t.Errorf("reload of daemon A answered %v", err)
	}
}

func TestRegistryOptions(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"none: own registry", Options{}, false},
		{"registry alone", Options{Registerer: reg}, false},
		{"both", Options{Registerer: prometheus.WrapRegistererWithPrefix("x_", reg), Gatherer: reg}, false},
		{"registerer that cannot gather", Options{Registerer: prometheus.WrapRegistererWithPrefix("x_", reg)}, true},
		{"gatherer alone", Options{Gatherer: reg}, true},
	} {
		r, g, err := registry(tc.opts)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: err %v, want error %v", tc.name, err, tc.wantErr)
		}
		if err == nil && (r == nil || g == nil) {
			t.Errorf("%s: nil registerer or gatherer without error", tc.name)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
