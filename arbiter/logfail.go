package arbiter

import (
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter/workerlog"
)

// reportEvery bounds how often one file's failure is reported: a disk
// that is nearly full takes some batches and refuses others, which must
// not flood the log with a report per batch.
const reportEvery = time.Minute

// recoverAfter is how long a failing file must take every batch before
// poold says it is writable again: on a nearly full disk a small batch
// fits now and then between refused ones, which is no recovery.
const recoverAfter = time.Second

// fileHealth is what poold's log says about one worker log file's write
// failures: a failure once (at most every reportEvery, or when that
// minute is over, with the lines dropped meanwhile), and its end once the
// file has taken lines for recoverAfter, with the lines it cost; so the
// log's last word on a file is true within a minute. It is a shared leaf
// (the readers of every worker writing the file) under its own mutex;
// the common case, a healthy file that took its batch, skips the lock.
type fileHealth struct {
	troubled atomic.Bool // failing, or a failure not told in full: take mu

	mu       sync.Mutex
	said     bool      // the log's last word on the file is a failure
	failedAt time.Time // last failed write
	saidAt   time.Time // last failure report
	lost     uint64    // lines dropped since the last recovery report
	rotSaid  time.Time // last report of a failed rotation
	zipSaid  time.Time // last report of a failed compression
	// held is a failure not reported yet, within the minute after the
	// last report, and heldBy the writer that hit it: due reports it
	// once that minute is over, whether or not a write comes then.
	held   error
	heldBy failedWrite
}

// failedWrite is the writer that hit a failure: what its report names.
type failedWrite struct {
	watcher, stream string
	wid             int
}

// rotateFailed says whether a rotation that failed at now is reported:
// at most once every reportEvery per file, since a rotation that fails is
// tried again every second while the cause (a directory poold may not
// write) lasts.
func (h *fileHealth) rotateFailed(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.rotSaid.IsZero() && now.Sub(h.rotSaid) < reportEvery {
		return false
	}
	h.rotSaid = now
	return true
}

// compressFailed says whether a compression of a rotated file that
// failed at now is reported: at most once every reportEvery per file, as
// a full disk fails the retry at each rotation.
func (h *fileHealth) compressFailed(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.zipSaid.IsZero() && now.Sub(h.zipSaid) < reportEvery {
		return false
	}
	h.zipSaid = now
	return true
}

// rotateRecovered notes that a rotation worked after failing, and says
// whether its failure had been reported (so its end is too); a new
// failure is then reported at once.
func (h *fileHealth) rotateRecovered() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	said := !h.rotSaid.IsZero()
	h.rotSaid = time.Time{}
	return said
}

// healthNote is what a write's outcome makes poold say: that the file
// fails (failed) or is writable again (recovered), and the lines dropped
// since the file last recovered.
type healthNote struct {
	failed, recovered bool
	dropped           uint64
}

// wrote records the outcome of writing n lines at now (err nil: written)
// and says what to log.
func (h *fileHealth) wrote(err error, n uint64, now time.Time) healthNote {
	return h.wroteBy(err, n, now, failedWrite{})
}

// wroteBy is wrote for the writer by, whom a failure held back for
// later (due) names.
func (h *fileHealth) wroteBy(err error, n uint64, now time.Time, by failedWrite) healthNote {
	if err == nil && !h.troubled.Load() {
		return healthNote{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var note healthNote
	mayReport := h.saidAt.IsZero() || now.Sub(h.saidAt) >= reportEvery
	switch {
	case err != nil:
		h.troubled.Store(true)
		h.failedAt = now
		h.lost += n
		switch {
		case !h.said && mayReport:
			note = healthNote{failed: true, dropped: h.lost}
			h.said, h.saidAt, h.held = true, now, nil
		case !h.said:
			h.held, h.heldBy = err, by
		}
	case now.Sub(h.failedAt) < recoverAfter:
		// Too soon after a failure to call it a recovery.
	case h.said || mayReport:
		note = healthNote{recovered: true, dropped: h.lost}
		h.said, h.lost = false, 0
		h.troubled.Store(false)
	}
	return note
}

// due reports, at now, a failure held back because it came within the
// minute after the last report, once that minute is over: its file may
// get no write again (a worker gone quiet after the burst that failed),
// and the failure, with the lines it dropped, would never be told. It
// says what to log, the failure and its writer. The loop's tick calls it
// (output.reportDue).
func (h *fileHealth) due(now time.Time) (healthNote, failedWrite, error) {
	if !h.troubled.Load() {
		return healthNote{}, failedWrite{}, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == nil || h.said || now.Sub(h.saidAt) < reportEvery {
		return healthNote{}, failedWrite{}, nil
	}
	err, by := h.held, h.heldBy
	h.held = nil
	h.said, h.saidAt = true, now
	return healthNote{failed: true, dropped: h.lost}, by, err
}

// diskFullWhat is the cause and the fix of ENOSPC or EDQUOT on a worker
// log file: df -h may show room while the inodes are used up.
const diskFullWhat = "its filesystem is full, out of inodes (df -i) or over a quota; free space or inodes on it"

// compressFailure is what poold's log says of a rotated worker log file
// it could not compress, by the cause in err.
func compressFailure(err error) string {
	const head = "cannot compress a rotated worker log file: it stays uncompressed, and poold tries again at the next rotation; "
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return head + diskFullWhat
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return head + "make its directory writable to poold"
	}
	return head + "see the error"
}

// fileFailure is what poold's log says of a worker log file it cannot
// open or write, by the cause in err: what to do about a link or a FIFO
// at the path is not to free space, nor about a full disk to fix a
// directory.
func fileFailure(err error) string {
	const (
		head = "cannot write a worker log file: "
		tail = "; meanwhile its lines are dropped and counted, and poold tries again by itself"
	)
	var what string
	switch {
	case workerlog.IsLink(err):
		what = "a symbolic link is at its path, which poold does not follow; remove the link, or give the real path"
	case workerlog.IsNotRegular(err):
		what = "something other than a regular file (a FIFO, a socket, a directory) is at its path; remove it, or give another path"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		what = diskFullWhat
	case errors.Is(err, fs.ErrNotExist):
		what = "its directory does not exist; make its directory exist and writable to poold"
	case errors.Is(err, syscall.EROFS):
		what = "its filesystem is read-only; remount it read-write, or give a path on another one"
	case errors.Is(err, fs.ErrPermission):
		what = "poold may not write it; make the file and its directory writable to poold"
	default:
		what = "free space on its filesystem, or make its directory exist and writable to poold"
	}
	return head + what + tail
}
