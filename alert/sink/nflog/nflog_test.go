package nflog

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

func TestLogOnJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	_, js := testserver.Connect(t, srv.ClientURL())
	ctx := context.Background()
	l := New(js, "toolwatch-nflog", time.Hour, 1)
	a := &alert.Alert{ID: "5f0c1e2d3c4b5a69", Fingerprint: "9f1c2e3d4b5a6978", Status: alert.StatusFiring, Severity: alert.SeverityCritical}
	if done, err := l.Delivered(ctx, "webhook:rcv/hook", a); err != nil || done {
		t.Fatalf("fresh log: delivered %v, %v", done, err)
	}
	if err := l.Log(ctx, "webhook:rcv/hook", a); err != nil {
		t.Fatal(err)
	}
	// A second process (after a crash) sees it; other targets and other
	// emissions are independent.
	l2 := New(js, "toolwatch-nflog", time.Hour, 1)
	resolved := *a
	resolved.Status = alert.StatusResolved
	for _, tc := range []struct {
		sink string
		a    *alert.Alert
		want bool
	}{
		{"webhook:rcv/hook", a, true},
		{"nats", a, false},
		{"webhook:rcv/hook", &resolved, false},
	} {
		if done, err := l2.Delivered(ctx, tc.sink, tc.a); err != nil || done != tc.want {
			t.Errorf("%s %s: delivered %v, %v; want %v", tc.sink, tc.a.Status, done, err, tc.want)
		}
	}
	kv, err := js.KeyValue(ctx, "toolwatch-nflog")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != time.Hour || st.History() != 1 {
		t.Errorf("bucket ttl %v history %d, want 1h and 1", st.TTL(), st.History())
	}
}

func TestKeyAlphabet(t *testing.T) {
	a := &alert.Alert{ID: "id with spaces.and.dots", Status: "firing", Severity: "critical"}
	k := Key("webhook:host/path", a)
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			t.Fatalf("key %q has %q", k, c)
		}
	}
	if Key("a", a) == Key("b", a) {
		t.Error("sinks share a key")
	}
}
