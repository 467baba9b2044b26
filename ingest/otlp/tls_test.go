package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/toolwatch/toolwatch/internal/testcert"
)

// With otlp.tls both listeners speak TLS only.
func TestTLS(t *testing.T) {
	cert := testcert.New(t, "toolwatch-test", nil)
	certFile, keyFile := cert.Write(t, t.TempDir(), "cert")
	pool := cert.Pool()
	e := newEnv(t, func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+e.recv.HTTPAddr()+TracesPath, "application/json", bytes.NewReader(requestJSON(t)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https status %d", resp.StatusCode)
	}
	if resp, _ := e.post(t, post{ct: "application/json", body: requestJSON(t)}); resp.StatusCode == 200 {
		t.Error("plain HTTP accepted by a TLS listener")
	}
	cc, err := grpc.NewClient(e.recv.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(context.Background(), protoRequest(t)); err != nil {
		t.Fatalf("grpc over TLS: %v", err)
	}
	if got, want := len(e.stored(t)), len(goldenRecords(t)); got != want {
		t.Errorf("stored %d, want %d", got, want)
	}
}
