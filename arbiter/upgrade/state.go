// Package upgrade is the state one image of poold hands to the next when
// it re-executes itself in place (poolctl upgrade, SIGUSR2): what the
// arbiter runs, and the fds the new image takes over.
//
// The state is JSON in a memfd whose fd, with the fd of the old
// executable (kept for a rollback), is named by the environment variable
// EnvFDs of the new image. The format is versioned by a number: a binary
// says which versions it reads (`poold --upgrade-check`), and poold
// refuses to exec one that cannot read its own.
//
// Concurrency: plain values and functions; nothing is shared.
package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher"
)

// Version is the state format this binary writes. Format 2 adds
// Transports, poold's own listeners: a binary reading only format 1
// would leave them open and fail to bind its endpoints again, so the
// pre-flight refuses it. A format 1 state (no Transports) is still read:
// its endpoints are bound again.
const Version = 2

// Readable lists the state formats this binary reads.
var Readable = []int{1, 2}

// EnvFDs names "STATEFD,OLDEXEFD" in the new image's environment.
const EnvFDs = "POOLD_UPGRADE_FDS"

// EnvRollback, set in the environment of an old image exec'd back, says
// why the new one could not take over.
const EnvRollback = "POOLD_UPGRADE_ROLLBACK"

// EnvExe names, in the new image's environment, the path the first image
// was started from (symlinks kept), which the next upgrade runs again: the
// new image itself may have been exec'd from another (a rollback runs the
// old binary from an fd).
const EnvExe = "POOLD_UPGRADE_EXE"

// EnvHupIgnored, set to 1 in the new image's environment, says the first
// image was started with SIGHUP ignored (nohup), which the new image
// cannot see for itself: the old one ignores SIGHUP for the exec.
const EnvHupIgnored = "POOLD_UPGRADE_HUP_IGNORED"

// Outcome is how the last upgrade ended, as the upgrade_status command
// reports it.
type Outcome struct {
	ID         uint64    `json:"id"`    // increases with each upgrade asked of this poold
	State      string    `json:"state"` // "upgrading", "upgraded", "rolled_back", "refused"; "none" before the first
	OldVersion string    `json:"old_version"`
	NewVersion string    `json:"new_version"` // what now runs
	Reason     string    `json:"reason,omitempty"`
	Pid        int       `json:"pid"`
	Began      time.Time `json:"began,omitzero"`
	// HandOver is when the old image began the hand-over, once the wait
	// to settle and the pre-flight were done (absent from a build that
	// did not say it); TookOver when the new image had adopted everything.
	HandOver time.Time `json:"hand_over,omitzero"`
	TookOver time.Time `json:"took_over,omitzero"`
	// Warnings are those of the config file as the image that took over
	// read it (configs.Config.Warnings); poolctl upgrade prints them.
	Warnings []string `json:"warnings,omitempty"`
}

// Pipes are the read ends of one worker's stdout and stderr.
type Pipes struct {
	Pid    int `json:"pid"`
	Stdout int `json:"stdout"`
	Stderr int `json:"stderr"`
	// What the old image had read of an unfinished line of each.
	StdoutPending []byte `json:"stdout_pending,omitempty"`
	StderrPending []byte `json:"stderr_pending,omitempty"`
}

// Cgroups is the cgroup tree, still locked through LockFD, and each
// worker's cgroup directory.
type Cgroups struct {
	Dir    string         `json:"dir"`
	LockFD int            `json:"lock_fd"`
	Groups map[int]string `json:"groups"` // pid -> directory
	// By pid, for the cgroups that have them: the OOM kills and the
	// forks a pids limit refused of earlier workers of a reused cgroup,
	// and cgroups killed through cgroup.kill (never reused). A binary
	// that does not know them counts a reused cgroup's old ones again.
	OOMBase  map[int]int `json:"oom_base,omitempty"`
	PidsBase map[int]int `json:"pids_base,omitempty"`
	Killed   []int       `json:"killed,omitempty"`
}

// Log is one watcher's ring of recent output lines (poolctl logs, the
// console) and its counters. A binary that does not know it starts the
// rings afresh (and its readers from their first line).
type Log struct {
	Watcher string `json:"watcher"`
	Last    uint64 `json:"last"` // the last line number assigned
	Lines   uint64 `json:"lines"`
	Dropped uint64 `json:"dropped,omitempty"`
	// Of Dropped, by cause (logs.dropped_file, dropped_queue,
	// dropped_stderr in status); from an image that did not know them,
	// Dropped stays without cause.
	DroppedFile   uint64             `json:"dropped_file,omitempty"`
	DroppedQueue  uint64             `json:"dropped_queue,omitempty"`
	DroppedStderr uint64             `json:"dropped_stderr,omitempty"`
	Records       []workerlog.Record `json:"records,omitempty"`
}

// State is everything the new image takes over.
type State struct {
	Version int       `json:"version"`
	Taken   time.Time `json:"taken"` // wall time of the snapshot: timers are durations from it
	Started time.Time `json:"started"`
	// BootTime is the boot time (unix seconds) the old image counted
	// process start times from; the new one keeps it (0: read its own).
	BootTime float64         `json:"boot_time,omitempty"`
	Outcome  Outcome         `json:"outcome"`
	Config   *configs.Config `json:"config"`
	// Filed is each watcher's section as the config file last gave it
	// (Config holds the specs as they run, with run-time changes).
	Filed    []configs.Watcher `json:"filed,omitempty"`
	Watchers []watcher.State   `json:"watchers"`
	Seq      uint64            `json:"seq"`
	History  []events.Event    `json:"history"`
	// Instance is the event bus's instance id (events.Bus.SetInstance),
	// kept by the new image as the seq is ("": an image before it had
	// one; the new image takes a new one).
	Instance  string              `json:"instance,omitempty"`
	Sockets   []sockets.Inherited `json:"sockets"`
	Pipes     []Pipes             `json:"pipes"`
	Cgroups   *Cgroups            `json:"cgroups,omitempty"`
	NotifyDir string              `json:"notify_dir,omitempty"`
	// poold's own listening fds by address: "tcp ADDR", "unix PATH"
	// (zmq endpoints), "http console ADDR", "http metrics ADDR".
	Transports map[string]int `json:"transports,omitempty"`
	// Logs are the rings, and LogEpoch names them (a reader that sees
	// the same epoch goes on from its last line number).
	Logs     []Log            `json:"logs,omitempty"`
	LogEpoch int64            `json:"log_epoch,omitempty"`
	Extra    map[string]int64 `json:"extra,omitempty"`
	// ArgsGiven is, by watcher name, the shape add or set gave its args
	// in (circusd answers options and get with args as given).
	ArgsGiven map[string]ArgsShape `json:"args_given,omitempty"`
	// Reload is the outcome of the last config reload. An upgrade
	// applies no config file (the new image runs Config), so a reload
	// that failed before it has still failed after it. Nil (a binary
	// that does not know it): the new image starts as poold does.
	Reload *Reload `json:"reload,omitempty"`
	// Pending are the signals the old image took and had not acted on
	// when it re-executed (its loop was in the hand-over): "reload"
	// (SIGHUP), "reopen" (SIGUSR1). The new image acts on them.
	Pending []string `json:"pending,omitempty"`
	// Inherited are the children poold had when it first started (a
	// wrapper's helpers that then exec'd poold), still alive: not poold's
	// to stop at its exit, in any image.
	Inherited []int `json:"inherited,omitempty"`
	// Control are the open control connections the new image takes
	// over (a binary whose --upgrade-check says "takes control-conns";
	// no other gets any): each stopped at a message boundary, what its
	// client sent next still in the socket.
	Control []Conn `json:"control,omitempty"`
	// Casts are the casts (commands without a reply) that reached the
	// old image's loop during its hand-over, in order, for the new image
	// to run before anything else (when its --upgrade-check says
	// "takes control-casts").
	Casts []Cast `json:"casts,omitempty"`
}

// Conn is one accepted control connection handed over: its fd, the key
// of the listener that accepted it (as Transports names it) and the
// handshake its peer sent (ZMTP greeting and READY command), which the
// new image replays to its own socket.
type Conn struct {
	Key       string `json:"key"`
	FD        int    `json:"fd"`
	Handshake []byte `json:"handshake"`
}

// Cast is one cast the old image's loop took during its hand-over: the
// request (JSON, msg_type "cast") and who sent it (for the log).
type Cast struct {
	Request json.RawMessage `json:"request"`
	Caller  string          `json:"caller,omitempty"`
}

// Reload is what poold knows of its config file's last reload
// (poold_config_last_reload_successful and its timestamp, sd_notify's
// STATUS).
type Reload struct {
	OK          bool      `json:"ok"`
	LastSuccess time.Time `json:"last_success"` // when the config was last applied in full
	Error       string    `json:"error,omitempty"`
}

// ArgsShape is the args a client gave a watcher through add or set, and
// whether as a list: circusd answers options and get with args as they
// were given (a list stays a list; none given to add, or null given to
// set, is null).
type ArgsShape struct {
	List bool     `json:"list,omitempty"`
	None bool     `json:"none,omitempty"`
	Args []string `json:"args"`
	// ShellCmd is the cmd add or set gave with shell: true, which poold
	// runs as /bin/sh -c LINE (Args): circusd's get cmd answers it.
	ShellCmd string `json:"shell_cmd,omitempty"`
	// NoEnv: add was given no env, which circusd's options answers null.
	NoEnv bool `json:"no_env,omitempty"`
}

// FDs lists every fd the state names, which must survive the exec.
func (s *State) FDs() []int {
	var fds []int
	for _, so := range s.Sockets {
		fds = append(fds, so.FD)
	}
	for _, p := range s.Pipes {
		for _, fd := range []int{p.Stdout, p.Stderr} {
			if fd >= 0 { // -1: the worker closed that stream (exec >&-)
				fds = append(fds, fd)
			}
		}
	}
	if s.Cgroups != nil {
		fds = append(fds, s.Cgroups.LockFD)
	}
	for _, fd := range s.Transports {
		fds = append(fds, fd)
	}
	for _, c := range s.Control {
		fds = append(fds, c.FD)
	}
	return fds
}

// Write puts st into a new memfd without close-on-exec and returns it.
func Write(st *State) (*os.File, error) {
	fd, err := unix.MemfdCreate("poold-upgrade-state", 0)
	if err != nil {
		return nil, fmt.Errorf("upgrade: memfd for the state: %w%s", err, FDHint(err))
	}
	f := os.NewFile(uintptr(fd), "poold-upgrade-state")
	if err := json.NewEncoder(f).Encode(st); err != nil {
		f.Close()
		return nil, fmt.Errorf("upgrade: write the state: %w", err)
	}
	return f, nil
}

// Decode reads a state from r and checks its version.
func Decode(r io.Reader) (*State, error) {
	var st State
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return nil, fmt.Errorf("decode the state: %w", err)
	}
	if !slices.Contains(Readable, st.Version) {
		return nil, fmt.Errorf("state format %d: this binary reads %v", st.Version, Readable)
	}
	if st.Config == nil {
		return nil, errors.New("the state has no config")
	}
	return &st, nil
}

// ReadFD decodes the state in the memfd fd from its start.
func ReadFD(fd int) (*State, error) {
	f := os.NewFile(uintptr(fd), "poold-upgrade-state")
	defer f.Close()
	return Decode(io.NewSectionReader(f, 0, 1<<40))
}

// ParseEnv splits the value of EnvFDs into the state's and the old
// executable's fds.
func ParseEnv(v string) (stateFD, oldExeFD int, err error) {
	a, b, ok := strings.Cut(v, ",")
	if ok {
		stateFD, err = strconv.Atoi(a)
		if err == nil {
			oldExeFD, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || stateFD < 3 || oldExeFD < 3 {
		return 0, 0, fmt.Errorf("%s=%q: want two fds, STATE,OLDEXE", EnvFDs, v)
	}
	return stateFD, oldExeFD, nil
}

// FDHint says what to do about err when it is poold being out of fds
// (EMFILE, ENFILE), "" otherwise.
func FDHint(err error) string {
	var lim unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	switch {
	case errors.Is(err, unix.EMFILE):
		return fmt.Sprintf(" (poold has all the fds its RLIMIT_NOFILE allows, %d: its workers' pipes, sockets and open control connections;"+
			" raise LimitNOFILE= in its systemd unit, or ulimit -n where it starts, and restart it)", lim.Cur)
	case errors.Is(err, unix.ENFILE):
		return " (the system's fd table is full: fs.file-max)"
	}
	return ""
}
