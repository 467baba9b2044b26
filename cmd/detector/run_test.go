package main

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

// SIGHUP to `detector run` becomes one reload request on the daemon's
// channel, and the next SIGHUP waits until the answer came.
func TestReloadOnHUP(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reload := reloadOnHUP(ctx)
	for i, answer := range []error{nil, errors.New("rejected")} {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		select {
		case errc := <-reload:
			errc <- answer
		case <-time.After(10 * time.Second):
			t.Fatalf("SIGHUP %d: no reload request within 10s", i+1)
		}
	}
	select {
	case errc := <-reload:
		t.Fatalf("a reload request without a SIGHUP: %v", errc)
	case <-time.After(100 * time.Millisecond):
	}
}
