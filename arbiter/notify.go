package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/notify"
)

// SetupError is a start (or a reload) that failed on something of this
// machine the next attempt meets again, such as a directory poold must
// write that is read-only (not a full one: that passes, and is no
// SetupError): poold exits 78 (EX_CONFIG) for it, not 1, so
// that a restart policy that stops on 78 does not loop on it.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// notifyWhy names the key that gives watcher name a notify socket.
func notifyWhy(cfg *configs.Config, name string) string {
	for _, w := range cfg.Watchers {
		if strings.EqualFold(w.Name, name) && w.Readiness != "notify" {
			return "watchers." + w.Name + ".scale_busy_target is set"
		}
	}
	return "watchers." + name + `.readiness = "notify"`
}

// notifier is one watcher's NOTIFY_SOCKET (readiness "notify"): workers
// send READY=1 there, as systemd services do, and the sender's kernel
// credentials tell which worker it is.
type notifier struct {
	watcher string
	l       *notify.Listener
	stop    context.CancelFunc // ends its goroutines; Run then removes the socket
}

type notifyMsg struct {
	watcher string
	msg     notify.Message
}

// notifySocket returns the notify socket path of watcher, binding it on
// first use. The sockets live in a directory of poold's own (mode 0711:
// others may reach a socket whose name they know but not list them); the
// sockets are 0666 so workers running as another user can report.
func (a *Arbiter) notifySocket(name string) (string, error) {
	key := strings.ToLower(name)
	if n, ok := a.notify[key]; ok {
		return n.l.Path(), nil
	}
	if a.notifyDir == "" {
		if gone := removeStaleNotifyDirs(os.TempDir()); len(gone) > 0 {
			a.log.Info("removed notify socket directories that poolds no longer running left in TMPDIR", "dirs", gone)
		}
		dir, err := makeNotifyDir()
		if configs.DiskFull(err) {
			return "", fmt.Errorf("watcher %q: notify socket (%s): %w; %s", name, notifyWhy(a.cfg, name), err, configs.FreeSpaceFix(os.TempDir()))
		}
		if err != nil {
			// A read-only /tmp (a container's read-only root without a
			// volume there) is met again at every start.
			return "", &SetupError{fmt.Errorf("watcher %q: notify socket (%s): %w; %s", name, notifyWhy(a.cfg, name), err, configs.NotifyDirFix())}
		}
		a.notifyDir = dir
	}
	path := filepath.Join(a.notifyDir, key+".sock")
	l := notify.New(path, a.log.Named("notify").With("watcher", name), notify.WithMode(0o666))
	if err := l.Listen(); err != nil {
		if configs.DiskFull(err) {
			return "", fmt.Errorf("watcher %q: notify socket: %w; %s", name, err, configs.FreeSpaceFix(a.notifyDir))
		}
		return "", fmt.Errorf("watcher %q: notify socket: %w", name, err)
	}
	ctx, stop := context.WithCancel(a.runCtx)
	n := &notifier{watcher: name, l: l, stop: stop}
	if a.notify == nil {
		a.notify = map[string]*notifier{}
	}
	a.notify[key] = n
	a.bg.Add(2)
	go func() {
		defer a.bg.Done()
		if err := l.Run(ctx); err != nil {
			a.log.Error("notify socket failed", "watcher", name, "error", err)
		}
	}()
	go func() {
		defer a.bg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-l.Messages():
				if !ok {
					return
				}
				if !a.post(notifyMsg{watcher: name, msg: m}) {
					return
				}
			}
		}
	}()
	return path, nil
}

// notified handles one notify message on the loop: READY=1 from a worker,
// or from a process in its group (gunicorn's master forks workers into its
// own group), marks that worker ready.
func (a *Arbiter) notified(m notifyMsg) {
	w := a.watchers[strings.ToLower(m.watcher)]
	if w == nil {
		return
	}
	if n, ok := busyOf(m.msg); ok {
		w.Busy(m.msg.Pid, n) // the worker's own report: by its pid only
		if n > 0 {
			a.busyChanged(w) // idle again only at a reading
		}
	}
	if !m.msg.Ready() {
		return
	}
	for _, pid := range []int{m.msg.Pid, m.msg.Pgid} {
		if pid > 0 && w.Has(pid) {
			w.Ready(pid)
			return
		}
	}
	a.log.Debug("READY=1 from a process that is not a worker of this watcher", "watcher", m.watcher, "pid", m.msg.Pid, "pgid", m.msg.Pgid)
}

// closeNotify releases the notify socket of a watcher that was removed.
func (a *Arbiter) closeNotify(name string) {
	key := strings.ToLower(name)
	if n, ok := a.notify[key]; ok {
		n.stop()
		delete(a.notify, key)
	}
}

func (a *Arbiter) removeNotifyDir() {
	if a.notifyDir != "" {
		os.RemoveAll(a.notifyDir)
	}
}
