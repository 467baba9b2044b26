package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Store keeps the newest snapshot (a chain's base) and the one before it,
// and the deltas written after each.
type Store interface {
	// Save stores data as the newest snapshot; the one it replaces becomes
	// the fallback. A failed Save leaves the stored snapshots usable.
	Save(ctx context.Context, data []byte) error
	// Read returns the stored snapshots, newest first; a copy that could
	// not be read is returned with its Err set. A store with nothing in it
	// returns no blobs and no error.
	Read(ctx context.Context) ([]Blob, error)
	// SaveDelta stores the index-th delta after the base with ID base,
	// atomically: a delta is complete or absent.
	SaveDelta(ctx context.Context, base uint64, index uint32, data []byte) error
	// ReadDeltas returns the stored deltas of base in index order (gaps
	// left as they are: the caller checks the chain).
	ReadDeltas(ctx context.Context, base uint64) ([]Blob, error)
	// Prune removes the deltas of bases the store no longer holds (call
	// it after Save: the replaced chains go only once the new base is
	// durable).
	Prune(ctx context.Context) error
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

// FileStore keeps the snapshot at Path and the previous one at Path+".prev",
// and the deltas of each at Path+".delta-<base ID, 16 hex>-<index, 6
// digits>", written like a snapshot (tmp file, fsync, rename, fsync of
// the directory).
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

func (f *FileStore) deltaPrefix(base uint64) string {
	return fmt.Sprintf("%s.delta-%016x-", f.Path, base)
}

// SaveDelta implements Store.
func (f *FileStore) SaveDelta(ctx context.Context, base uint64, index uint32, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("save delta: %w", err)
	}
	path := fmt.Sprintf("%s%06d", f.deltaPrefix(base), index)
	tmp := path + ".tmp"
	if err := writeSync(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("save delta %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save delta: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("save delta: sync %s: %w", dir, err)
	}
	return nil
}

// deltas lists the delta files of every base: base ID -> index -> path.
func (f *FileStore) deltas() (map[uint64]map[uint32]string, error) {
	paths, err := filepath.Glob(globEscape(f.Path) + ".delta-*")
	if err != nil {
		return nil, err
	}
	out := make(map[uint64]map[uint32]string)
	for _, p := range paths {
		rest := strings.TrimPrefix(p, f.Path+".delta-")
		addDelta(out, rest, "-", p) // skips a .tmp or a stranger
	}
	return out, nil
}

// addDelta adds name to out (base ID -> index -> name) when its tail rest
// is a delta's "<16 hex digits of the base ID><sep><6-digit index>".
func addDelta(out map[uint64]map[uint32]string, rest, sep, name string) {
	hexID, num, ok := strings.Cut(rest, sep)
	if !ok || len(hexID) != 16 || len(num) != 6 {
		return
	}
	id, err1 := strconv.ParseUint(hexID, 16, 64)
	n, err2 := strconv.ParseUint(num, 10, 32)
	if err1 != nil || err2 != nil {
		return
	}
	if out[id] == nil {
		out[id] = make(map[uint32]string)
	}
	out[id][uint32(n)] = name
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}

// ReadDeltas implements Store.
func (f *FileStore) ReadDeltas(ctx context.Context, base uint64) ([]Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all, err := f.deltas()
	if err != nil {
		return nil, fmt.Errorf("read deltas: %w", err)
	}
	idx := slices.Sorted(func(yield func(uint32) bool) {
		for n := range all[base] {
			if !yield(n) {
				return
			}
		}
	})
	out := make([]Blob, 0, len(idx))
	for _, n := range idx {
		p := all[base][n]
		data, err := os.ReadFile(p)
		if err != nil {
			err = fmt.Errorf("read %s: %w", p, err)
		}
		out = append(out, Blob{Source: p, Data: data, Err: err})
	}
	return out, nil
}

// Prune implements Store: it keeps the deltas of the bases at Path and
// Path+".prev".
func (f *FileStore) Prune(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	keep := map[uint64]bool{}
	for _, p := range []string{f.Path, f.Path + ".prev"} {
		id, err := fileID(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("prune deltas: %w", err)
		}
		keep[id] = true
	}
	all, err := f.deltas()
	if err != nil {
		return fmt.Errorf("prune deltas: %w", err)
	}
	errs := pruneDeltas(all, keep, func(p string) error {
		if err := os.Remove(p); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	// A delta write cut short by a crash leaves its .tmp; no write is
	// running now (the Manager saves one link at a time).
	tmps, err := filepath.Glob(globEscape(f.Path) + ".delta-*.tmp")
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range tmps {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pruneDeltas removes the deltas (by base ID, then index) of the bases not
// in keep, and returns remove's errors.
func pruneDeltas(all map[uint64]map[uint32]string, keep map[uint64]bool, remove func(string) error) []error {
	var errs []error
	for id, ds := range all {
		if keep[id] {
			continue
		}
		for _, name := range ds {
			if err := remove(name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// fileID is ID of the file at p, read from its last bytes.
func fileID(p string) (uint64, error) {
	fh, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	if st.Size() < sumSize {
		return 0, nil
	}
	var sum [sumSize]byte
	if _, err := fh.ReadAt(sum[:], st.Size()-sumSize); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	return ID(sum[:]), nil
}
