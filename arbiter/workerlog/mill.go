package workerlog

import (
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// millRotated prunes old rotated files and compresses the file just
// rotated (when asked), on a goroutine of its own that Close waits for.
// Rotations queue up behind millMu, so two prunes never race.
//
// The prune comes first, and the file is compressed only if it is still
// there: a worker writing faster than gzip compresses queues a mill per
// rotation, and by its turn newer files may have pushed this one out of
// log_keep. Compressing first made every such mill compress a file and
// its prune delete the fresh .gz as the oldest, so no .gz survived and
// the disk held twice log_keep plain files; now the backlog costs only
// the files kept.
func (l *File) millRotated(rotated string, renamed bool, now time.Time) {
	rot := l.rot
	if !rot.Compress && rot.Keep == 0 && rot.MaxAge == 0 {
		return
	}
	l.mill.Add(1)
	go func() {
		defer l.mill.Done()
		l.millMu.Lock()
		defer l.millMu.Unlock()
		l.prune(rot, now)
		if renamed && rot.Compress {
			l.compressPlain()
		}
	}()
}

// compressPlain compresses every rotated file still plain: the one just
// rotated, and any whose compression failed before (a full disk), so
// none stays plain for good. Called with millMu held.
func (l *File) compressPlain() {
	files, _, err := scan(l.path)
	if err != nil {
		return
	}
	for _, f := range files {
		if !f.Gzip {
			l.compress(f.Path)
		}
	}
}

// compress compresses the rotated file name, which Compressing reports
// meanwhile. Called with millMu held: one at a time.
func (l *File) compress(name string) {
	l.compressing.Store(&name)
	defer l.compressing.Store(nil)
	if l.onCompress != nil {
		l.onCompress(name)
	}
	if err := compress(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.unzipped.Store(&CompressError{Path: name, Err: err})
	}
}

// CompressError is a rotated file whose compression failed: it stays
// plain, and the next rotation tries again.
type CompressError struct {
	Path string // the rotated file
	Err  error
}

func (e *CompressError) Error() string { return "compress " + e.Path + ": " + e.Err.Error() }
func (e *CompressError) Unwrap() error { return e.Err }

// CompressFailure returns the last compression that failed since the
// last call, or nil. It takes no lock, as RotateFailure.
func (l *File) CompressFailure() *CompressError { return l.unzipped.Swap(nil) }

// Compressing names the rotated file being compressed, or "" when none
// is: a stop that does not wait for the compression cuts it short, and
// poold's stop says which file is left uncompressed.
func (l *File) Compressing() string {
	if name := l.compressing.Load(); name != nil {
		return *name
	}
	return ""
}

// compress writes name.gz through a temporary file and removes name once
// the .gz is complete; on failure name stays as it is. The .gz keeps
// name's mode and owner: a chmod 600 log is not archived readable.
func compress(name string) error {
	// Not through a link a worker put in its place (symlinkRefused).
	in, err := openRegular(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	tmp := name + ".gz.tmp"
	os.Remove(tmp) // a leftover would keep its own mode
	out, err := createLike(tmp, st)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(name)
}

// Rotated lists the rotated files of the log at path, oldest first, with
// the time in their names.
func Rotated(path string) ([]RotatedFile, error) {
	files, _, err := scan(path)
	return files, err
}

// scan lists the rotated files of the log at path, oldest first, and the
// temporary files of their compression (NAME.STAMP.gz.tmp).
func scan(path string) (files []RotatedFile, temps []string, err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		rest, tmp := strings.CutSuffix(rest, ".gz.tmp")
		stamp, gz := strings.CutSuffix(rest, ".gz")
		t, err := time.Parse(stampLayout, stamp)
		switch {
		case err != nil || (tmp && gz):
			// not ours
		case tmp:
			temps = append(temps, filepath.Join(dir, e.Name()))
		default:
			files = append(files, RotatedFile{Path: filepath.Join(dir, e.Name()), Time: t, Gzip: gz})
		}
	}
	slices.SortFunc(files, func(a, b RotatedFile) int { return strings.Compare(a.Path, b.Path) })
	return files, temps, nil
}

// RotatedFile is one rotated log file.
type RotatedFile struct {
	Path string
	Time time.Time // when it was rotated
	Gzip bool
}

// millOpened finishes, once the file is first opened, what a poold that
// re-executed itself (upgrade) or died left of its mill: the temporary
// file of a compression cut short goes, rotated files left plain are
// compressed (when rot says so), and the rotated files are pruned.
func (l *File) millOpened(now time.Time) {
	rot := l.rot
	l.mill.Add(1)
	go func() {
		defer l.mill.Done()
		l.millMu.Lock()
		defer l.millMu.Unlock()
		l.prune(rot, now) // first: what goes needs no compression
		if rot.Compress {
			l.compressPlain()
		}
	}()
}

// prune removes rotated files beyond rot.Keep (oldest first), those older
// than rot.MaxAge, and temporary files of a compression: called with
// millMu held, so none is in progress and any found is stale.
func (l *File) prune(rot Rotation, now time.Time) {
	files, temps, err := scan(l.path)
	if err != nil {
		return
	}
	for _, name := range temps {
		os.Remove(name)
	}
	for i, f := range files {
		tooMany := rot.Keep > 0 && i < len(files)-rot.Keep
		tooOld := rot.MaxAge > 0 && now.Sub(f.Time) > rot.MaxAge
		if tooMany || tooOld {
			os.Remove(f.Path)
		}
	}
}
