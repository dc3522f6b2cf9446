package workerlog

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// millRotated compresses the file just rotated (when asked) and prunes old
// ones, on a goroutine of its own that Close waits for. Rotations queue up
// behind millMu, so two prunes never race.
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
		if renamed && rot.Compress {
			_ = compress(rotated)
		}
		l.prune(rot, now)
	}()
}

// compress writes name.gz through a temporary file and removes name once
// the .gz is complete; on failure name stays as it is.
func compress(name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + ".gz.tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
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
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RotatedFile
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		stamp, gz := strings.CutSuffix(rest, ".gz")
		t, err := time.Parse(stampLayout, stamp)
		if err != nil {
			continue // not ours, or a .gz.tmp in progress
		}
		out = append(out, RotatedFile{Path: filepath.Join(dir, e.Name()), Time: t, Gzip: gz})
	}
	slices.SortFunc(out, func(a, b RotatedFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// RotatedFile is one rotated log file.
type RotatedFile struct {
	Path string
	Time time.Time // when it was rotated
	Gzip bool
}

// prune removes rotated files beyond rot.Keep (oldest first) and those
// older than rot.MaxAge.
func (l *File) prune(rot Rotation, now time.Time) {
	files, err := Rotated(l.path)
	if err != nil {
		return
	}
	for i, f := range files {
		tooMany := rot.Keep > 0 && i < len(files)-rot.Keep
		tooOld := rot.MaxAge > 0 && now.Sub(f.Time) > rot.MaxAge
		if tooMany || tooOld {
			os.Remove(f.Path)
		}
	}
}
