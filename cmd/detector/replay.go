package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/replay"
)

func cmdReplay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", stderr)
	cfgPath := fs.String("config", "", "configuration file (default: built-in defaults, same as the shipped config.yaml)")
	inPath := fs.String("in", "-", "audit records, one JSON object per line ('-' is stdin; .gz is decompressed)")
	outPath := fs.String("out", "-", "alerts, one JSON object per line ('-' is stdout)")
	quiet := fs.Bool("quiet", false, "do not print the summary")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "replay: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	in, closeIn, err := openInput(*inPath, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	defer closeIn()
	out := stdout
	var outFile *os.File
	if *outPath != "-" {
		if outFile, err = os.Create(*outPath); err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return 1
		}
		out = outFile
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := replay.Run(ctx, in, out, replay.Options{Config: cfg, Stderr: stderr})
	if outFile != nil {
		if cerr := outFile.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close %s: %w", *outPath, cerr)
		}
	}
	if !*quiet {
		sum.WriteTo(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	return 0
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func openInput(path string, stdin io.Reader) (io.Reader, func(), error) {
	var r io.Reader = stdin
	closeFn := func() {}
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		r, closeFn = f, func() { f.Close() }
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(br)
		if err != nil {
			closeFn()
			return nil, nil, fmt.Errorf("open %s: %w", path, err)
		}
		return zr, closeFn, nil
	}
	return br, closeFn, nil
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("check-config", stderr)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: detector check-config FILE")
		return 2
	}
	path := fs.Arg(0)
	if err := config.Check(path); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	// The web config file is checked as at start (certificates, users).
	if cfg, err := config.Load(path); err == nil && cfg.Metrics.WebConfigFile != "" {
		if err := web.Validate(cfg.Metrics.WebConfigFile); err != nil {
			fmt.Fprintf(stderr, "%s: metrics.web_config_file %s: %v\n", path, cfg.Metrics.WebConfigFile, err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}
