package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Store keeps the newest snapshot and the one before it.
type Store interface {
	// Save stores data as the newest snapshot; the one it replaces becomes
	// the fallback. A failed Save leaves the stored snapshots usable.
	Save(ctx context.Context, data []byte) error
	// Read returns the stored snapshots, newest first; a copy that could
	// not be read is returned with its Err set. A store with nothing in it
	// returns no blobs and no error.
	Read(ctx context.Context) ([]Blob, error)
	// String names the store in logs ("file ./data/toolwatch.snapshot").
	String() string
}

// Blob is one stored snapshot as read.
type Blob struct {
	// Source names the copy: a path, or bucket/object.
	Source string
	Data   []byte
	Err    error // reading it failed
}

// FileStore keeps the snapshot at Path and the previous one at Path+".prev".
//
// Save writes Path+".tmp" and fsyncs it, renames Path to Path+".prev",
// renames the tmp file to Path and fsyncs the directory. A crash at any
// point leaves the newest complete snapshot at Path or, between the two
// renames, at Path+".prev"; a leftover .tmp is never read (it may be
// partial) and is overwritten by the next Save.
type FileStore struct {
	Path string
}

// String implements Store.
func (f *FileStore) String() string { return "file " + f.Path }

// Save implements Store.
func (f *FileStore) Save(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	tmp := f.Path + ".tmp"
	if err := writeSync(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save snapshot %s: %w", tmp, err)
	}
	if err := os.Rename(f.Path, f.Path+".prev"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("save snapshot: keep previous: %w", err)
	}
	if err := os.Rename(tmp, f.Path); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("save snapshot: sync %s: %w", dir, err)
	}
	return nil
}

func writeSync(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Read implements Store: Path, then Path+".prev".
func (f *FileStore) Read(ctx context.Context) ([]Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Blob
	for _, p := range []string{f.Path, f.Path + ".prev"} {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			err = fmt.Errorf("read %s: %w", p, err)
		}
		out = append(out, Blob{Source: p, Data: data, Err: err})
	}
	return out, nil
}
