// Package workerlog holds what poold keeps of its workers' output: a log
// file that rotates itself (File), the bounded in-memory ring behind
// `poolctl logs` and the console's log pane (Ring), and the formats of a
// record (Record).
//
// Concurrency: File and Ring are safe for use from many goroutines; each
// guards its state with its own mutex, held only for one write (File) or
// one copy (Ring). A File's compression and pruning of rotated files run
// on one goroutine per rotation (and one at its first open, which finishes
// what an upgraded or killed poold left), serialised, and Close waits for
// them.
//
// Why not lumberjack: it rotates by size only (time rotation was refused
// upstream), counts max age in whole days and sizes in whole megabytes,
// and its background "mill" goroutine outlives Close. What poold needs is
// size and time rotation, exact keep/max-age, gzip, reopen for logrotate,
// an injected clock for tests and nothing left running: about 250 lines.
package workerlog

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Rotation says when a File rotates and what it keeps.
type Rotation struct {
	MaxSize  int64         // rotate before a write would pass this many bytes; 0: never
	Period   string        // "", "hourly" or "daily" (local time): rotate at each boundary
	Keep     int           // rotated files kept, newest first; 0: all
	MaxAge   time.Duration // rotated files older than this are removed; 0: never
	Compress bool          // gzip rotated files (name.STAMP.gz)
}

// stampLayout names rotated files: path + "." + the rotation time in UTC.
// Fixed width, so the names sort by time; a rotation within the same
// microsecond as the last one takes the next microsecond.
const stampLayout = "20060102T150405.000000Z"

// reopenEvery bounds how often a File that could not be opened tries
// again: an unwritable path costs one open attempt a second, not one per
// line.
const reopenEvery = time.Second

// File is an append-only log file at a fixed path that rotates itself.
// Write takes whole lines and writes them in one write(2), so lines of
// different writers never interleave and a short write (disk full) is cut
// back to the last whole line.
type File struct {
	path string
	now  func() time.Time
	// perm is the mode a File creates a missing file with: exact, or
	// less poold's umask (the kernel's).
	perm  os.FileMode
	exact bool

	mu       sync.Mutex
	rot      Rotation
	f        *os.File
	size     int64
	next     time.Time // next time boundary; zero: none
	last     time.Time // stamp of the last rotated file
	failedAt time.Time // last failed open; zero: none
	// openErr is that open's error, which every write until the next try
	// returns: poold reports a failure on whichever write comes once its
	// minute is over, nearly always one of these, and the report must
	// name the cause (a link, a missing directory), not the retry.
	openErr  error
	linkedAt time.Time // last look at whether the file is still the one at its path
	// stuckAt is when a rotation last failed to rename the file (zero:
	// none): the file stays open and takes lines, and the next rotation
	// is tried reopenEvery later, not at every write.
	stuckAt time.Time
	stuck   atomic.Pointer[error] // a failed rotation not yet taken (RotateFailure)
	unstuck atomic.Bool           // a rotation worked after failing, not yet taken (RotateRecovered)
	moved   atomic.Bool           // the file was renamed and the path's taken instead, not yet told (Replaced)
	closed  bool
	opened  bool                     // opened once: the mill has recovered what was left
	reopen  atomic.Bool              // reopen before the next write
	setRot  atomic.Pointer[Rotation] // rotation settings for the next write (SetRotation)

	millMu      sync.Mutex                    // serialises compression and pruning
	mill        sync.WaitGroup                // one per rotation's compress and prune
	compressing atomic.Pointer[string]        // the rotated file being compressed (Compressing)
	unzipped    atomic.Pointer[CompressError] // a failed compression not yet taken (CompressFailure)
	onCompress  func(name string)             // tests: told of each compression begun
}

// Open returns the log file at path, created if missing with mode 0666
// less poold's umask (0644 under the usual 022); the file a rotation (or
// a reopen) creates takes the mode and, when poold is root, the owner of
// the file it replaces. now is the clock (nil: time.Now). The open itself
// is deferred to the first Write, whose error it reports.
func Open(path string, rot Rotation, now func() time.Time) *File {
	if now == nil {
		now = time.Now
	}
	return &File{path: path, rot: rot, now: now, perm: 0o666}
}

// OpenUmask is Open for a watcher with its own umask: a file it creates
// gets mode 0666 less umask, exactly, whatever poold's umask, as systemd
// creates StandardOutput=file: with the unit's UMask= (a watcher with
// umask "077" gets 0600 logs, not 0644 ones others may read).
func OpenUmask(path string, rot Rotation, umask os.FileMode, now func() time.Time) *File {
	l := Open(path, rot, now)
	l.perm, l.exact = 0o666&^umask.Perm(), true
	return l
}

// Path is the file's path.
func (l *File) Path() string { return l.path }

// SetRotation replaces the rotation settings; they apply from the next
// write. It takes no lock a write holds: poold's loop calls it for each
// worker it starts, and a write stuck on a frozen or hung disk (a
// filesystem frozen for a snapshot, an NFS server gone) held the loop
// with it, and every command to poold went unanswered.
func (l *File) SetRotation(rot Rotation) { l.setRot.Store(&rot) }

// ErrClosed is returned by a Write after Close.
var ErrClosed = errors.New("workerlog: file closed")

// Write appends p, which holds whole lines, rotating first when the size
// or time says so. On error nothing of p stays in the file.
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	now := l.now()
	if rot := l.setRot.Swap(nil); rot != nil {
		l.rot = *rot
		l.next = l.boundary(now)
	}
	var like os.FileInfo
	if (l.reopen.Swap(false) || l.replacedAtPath(now)) && l.f != nil {
		like = l.shut()
		l.failedAt = time.Time{}
	}
	if err := l.ensureOpen(now, like); err != nil {
		return 0, err
	}
	if l.due(now, len(p)) {
		if err := l.rotate(now); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	if err != nil {
		if n > 0 {
			l.takeBack(n)
		}
		var named *os.PathError
		if !errors.As(err, &named) { // io.ErrShortWrite: the only one without the path
			err = &os.PathError{Op: "write", Path: l.path, Err: err}
		}
		return 0, err
	}
	l.size += int64(n)
	return n, nil
}

// replacedAtPath reports, at most once per reopenEvery, whether the open
// file is no longer the file at its path: it lost its last name (someone
// ran rm on it), or it was renamed (logrotate without a SIGUSR1 or
// `poolctl reopen` in its postrotate) and the path holds another file or
// none. Its lines would go to a file nobody reads, or a rotated one,
// until a reopen; then the next write opens the path again (making the
// file if it is missing). A rename is kept for Replaced, to be said.
func (l *File) replacedAtPath(now time.Time) bool {
	if l.f == nil {
		return false
	}
	if d := now.Sub(l.linkedAt); !l.linkedAt.IsZero() && d >= 0 && d < reopenEvery {
		return false
	}
	l.linkedAt = now
	st, err := l.f.Stat()
	if err != nil {
		return false
	}
	open, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	if open.Nlink == 0 {
		return true
	}
	at, err := os.Lstat(l.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false // cannot tell (a directory poold may not search)
	}
	if err == nil {
		if sys, ok := at.Sys().(*syscall.Stat_t); !ok || (sys.Dev == open.Dev && sys.Ino == open.Ino) {
			return false
		}
	}
	l.moved.Store(true)
	return true
}

// Replaced reports whether a write found, since the last call, that the
// open file had been renamed and the path held another file or none,
// and went on with the file at the path: poold says so once. It takes
// no lock, as RotateFailure.
func (l *File) Replaced() bool { return l.moved.Swap(false) }

// takeBack cuts off the n bytes a short write left (part of a line), so
// the next write starts clean. The end is read again (fstat): after an
// external copytruncate l.size is stale, and truncating to it would pad
// the file with NULs.
func (l *File) takeBack(n int) {
	st, err := l.f.Stat()
	if err != nil || st.Size() < int64(n) {
		return
	}
	if size := st.Size() - int64(n); l.f.Truncate(size) == nil {
		l.size = size
	}
}

// due reports whether the file must rotate before n more bytes. When the
// size says so, the size is read again first (fstat): an external
// copytruncate may have emptied the file since it was last counted.
func (l *File) due(now time.Time, n int) bool {
	if d := now.Sub(l.stuckAt); !l.stuckAt.IsZero() && d >= 0 && d < reopenEvery {
		return false
	}
	if !l.dueAt(now, n) {
		return false
	}
	if st, err := l.f.Stat(); err == nil {
		l.size = st.Size()
	}
	return l.dueAt(now, n)
}

func (l *File) dueAt(now time.Time, n int) bool {
	if l.size == 0 {
		return false
	}
	if l.rot.MaxSize > 0 && l.size+int64(n) > l.rot.MaxSize {
		return true
	}
	return !l.next.IsZero() && !now.Before(l.next)
}

// ensureOpen opens the path unless the file is open. A file it creates
// takes the mode and owner of like, the file it replaces (nil: l.perm).
func (l *File) ensureOpen(now time.Time, like os.FileInfo) error {
	if l.f != nil {
		return nil
	}
	if d := now.Sub(l.failedAt); !l.failedAt.IsZero() && d >= 0 && d < reopenEvery {
		return l.openErr
	}
	f, _ := createLike(l.path, like)
	if f == nil {
		var err error
		if f, err = openCreate(l.path, l.perm, l.exact); err != nil {
			l.failedAt, l.openErr = now, symlinkRefused(l.path, err)
			return l.openErr
		}
	}
	l.failedAt, l.openErr = time.Time{}, nil
	l.f = f
	l.linkedAt = now // it is the file at the path now
	l.size = 0
	if st, err := f.Stat(); err == nil {
		l.size = st.Size()
	}
	l.next = l.boundary(now)
	if !l.opened {
		l.opened = true
		l.millOpened(now)
	}
	return nil
}

// shut closes the open file and returns what it was (nil: unknown), for
// the file that replaces it.
func (l *File) shut() os.FileInfo {
	st, err := l.f.Stat()
	l.f.Close()
	l.f = nil
	if err != nil {
		return nil
	}
	return st
}

// boundary is the next time rotation after now, or zero: the next full
// hour or midnight of wall-clock time in now's location. (Truncating the
// absolute time would give HH:30 in a zone half an hour off UTC.)
func (l *File) boundary(now time.Time) time.Time {
	y, m, d := now.Date()
	switch l.rot.Period {
	case "hourly":
		return time.Date(y, m, d, now.Hour()+1, 0, 0, 0, now.Location())
	case "daily":
		return time.Date(y, m, d+1, 0, 0, 0, 0, now.Location())
	}
	return time.Time{}
}

// rotate renames the file to its time-stamped name, opens a new one and
// hands the rotated file to the mill. Called with mu held. A rename that
// fails while the file is still there (a directory poold may not write,
// a file that is a mount point) leaves the file open and taking lines:
// the failure is kept for RotateFailure, and the rotation is tried again
// reopenEvery later. Reopening the same file at every write instead cost
// a rename and two opens per batch and said nothing while the file grew
// past its size.
func (l *File) rotate(now time.Time) error {
	stamp := now.UTC().Truncate(time.Microsecond)
	if !stamp.After(l.last) {
		stamp = l.last.Add(time.Microsecond)
	}
	l.last = stamp
	rotated := l.path + "." + stamp.Format(stampLayout)
	err := os.Rename(l.path, rotated)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.stuckAt = now
		l.stuck.Store(&err) // a LinkError: names the file and the rotated name
		return nil
	}
	// Renamed, or moved away under us (logrotate): then nothing to keep,
	// just reopen.
	renamed := err == nil
	if !l.stuckAt.IsZero() {
		l.unstuck.Store(true)
	}
	l.stuckAt = time.Time{}
	if err := l.ensureOpen(now, l.shut()); err != nil {
		return err
	}
	l.millRotated(rotated, renamed, now)
	return nil
}

// RotateFailure returns the error of a rotation that failed since the
// last call (its file kept its lines and grows past its size), or nil.
// It takes no lock: a writer calls it after each Write.
func (l *File) RotateFailure() error {
	if err := l.stuck.Swap(nil); err != nil {
		return *err
	}
	return nil
}

// RotateRecovered reports whether a rotation worked since the last call
// after one had failed. It takes no lock, as RotateFailure.
func (l *File) RotateRecovered() bool { return l.unstuck.Swap(false) }

// Reopen closes the file and opens path again: after an external rotation
// (logrotate with create) moved it away, writing continues in a new file.
func (l *File) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var like os.FileInfo
	if l.f != nil {
		like = l.shut()
	}
	l.failedAt = time.Time{}
	return l.ensureOpen(l.now(), like)
}

// RequestReopen makes the next Write reopen the path first, like Reopen,
// without waiting for the write in progress: it does no I/O itself.
func (l *File) RequestReopen() { l.reopen.Store(true) }

// Close closes the file and waits for compression and pruning in flight.
func (l *File) Close() error {
	l.mu.Lock()
	var err error
	if l.f != nil {
		err = l.f.Close()
		l.f = nil
	}
	l.closed = true
	l.mu.Unlock()
	l.mill.Wait()
	return err
}

// Settle waits for compression and pruning in flight (tests, benchmarks).
func (l *File) Settle() { l.mill.Wait() }

var _ io.Writer = (*File)(nil)
