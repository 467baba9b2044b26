package loadbench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/toolwatch/toolwatch/app"
)

// InProcess runs the daemon with app.Run in this process: what `detector
// run` runs, minus the process boundary. Peak RSS is the whole process's.
type InProcess struct{}

// RSSScope implements Launcher.
func (InProcess) RSSScope() string { return "bench process: server, publisher and daemon" }

// Start implements Launcher.
func (InProcess) Start(natsURL, configPath, dir string) (func() (int64, error), error) {
	logf, err := os.Create(filepath.Join(dir, "detector.log"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{
			ConfigPath: configPath, NATSURL: natsURL, HTTPListen: "127.0.0.1:0",
			DataDir: filepath.Join(dir, "detector"), LogOutput: logf,
			Started: func(app.Info) { close(started) },
		})
	}()
	select {
	case <-started:
	case err := <-done:
		cancel()
		logf.Close()
		if err == nil {
			err = errors.New("daemon returned before consuming")
		}
		return nil, err
	}
	return func() (int64, error) {
		cancel()
		err := <-done
		logf.Close()
		return selfPeakRSS(), err
	}, nil
}

// selfPeakRSS is this process's VmHWM in bytes (0 if unknown).
func selfPeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// Process runs the daemon as a child: Exe run --nats-url URL, in dir (its
// ./data goes there), logging to dir/detector.log. Peak RSS is the
// child's maximum resident set (getrusage).
type Process struct {
	Exe string // path of the detector binary
	// CPUProfile, if set, is passed to the child as --cpuprofile (an
	// absolute path: the child runs in the bench's directory).
	CPUProfile string
	pid        int
}

// RSSScope implements Launcher.
func (*Process) RSSScope() string { return "detector process" }

// CPU implements CPUMeter: the child's user + system time so far.
func (p *Process) CPU() time.Duration { return procCPU(p.pid) }

// procCPU reads utime + stime of pid from /proc (0 if unknown).
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line, in clock ticks (100 Hz on Linux).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(string(f[11]), 10, 64)
	st, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// Start implements Launcher.
func (p *Process) Start(natsURL, configPath, dir string) (func() (int64, error), error) {
	logPath := filepath.Join(dir, "detector.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "--nats-url", natsURL, "--listen", "127.0.0.1:0"}
	if configPath != "" {
		args = append(args, "--config", configPath)
	}
	if p.CPUProfile != "" {
		prof, err := filepath.Abs(p.CPUProfile)
		if err != nil {
			logf.Close()
			return nil, err
		}
		args = append(args, "--cpuprofile", prof)
	}
	cmd := exec.Command(p.Exe, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	p.pid = cmd.Process.Pid
	return func() (int64, error) {
		defer logf.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		var err error
		select {
		case err = <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			err = errors.New("did not stop within 30s of SIGTERM; killed")
		}
		var rss int64
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10 // KiB on Linux
		}
		if err != nil {
			return rss, fmt.Errorf("%w (log: %s)", err, logPath)
		}
		return rss, nil
	}, nil
}
