// Package launch prepares the exec of a watcher's workers and checks, ahead
// of time, that it can succeed: the program, its arguments, environment,
// working directory, inherited sockets, user and limits of one worker slot.
//
//	Build(spec, handoff, wid, cred) -> Command   what to exec for slot wid
//	Vars(spec, handoff, wid, dir)                the $(pool.X) variables
//	Env(spec)                                    the environment before variables
//	ProbeEnv(spec, handoff, wid, pid)            the environment of an exec health check
//	LookCommand(name, dir, env, cred)            find argv[0], executable by the user
//	Check(spec)                                  what --check and a reload verify
//
// cmd is split into words with configs.SplitCommand (like a shell splits
// simple words; no shell runs); $(pool.X) variables are replaced after the
// split, inside each word, so a value with blanks stays one word; args are
// appended as given. The program (argv[0]) is taken relative to the working
// directory when it contains a slash, else looked up in the worker's PATH.
//
// Concurrency: the functions keep no state and start no goroutines, so any
// goroutine may call them. Build, LookCommand and Check stat files and may
// read the user database; Check also resolves uid and gid (spec.Credential).
package launch

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"syscall"

	"github.com/poold/poold/configs"
)

// Handoff is what the arbiter gives a watcher's workers besides its spec:
// its sockets and the readiness socket.
type Handoff struct {
	Files  []*os.File     // inherited at fds 3, 4, ...
	Env    []string       // LISTEN_FDS, LISTEN_FDNAMES
	FDs    map[string]int // socket name -> fd, for $(pool.sockets.NAME)
	Notify string         // NOTIFY_SOCKET for readiness "notify"
	// Mark ties every worker to its config and to the poold that starts
	// it (MarkEnv), whatever its sockets; its descendants inherit it.
	Mark []string
}

// Command is one worker's exec request.
type Command struct {
	Path       string   // the resolved executable
	Argv       []string // argv[0] included, as written in cmd
	Env        []string // the whole environment, "KEY=VALUE"
	Dir        string   // the working directory
	Files      []*os.File
	Credential *syscall.Credential // nil: poold's user
	Umask      int                 // -1: inherit
	Rlimits    map[int]uint64      // RLIMIT_* resource -> soft and hard limit
	// Listen: the environment carries LISTEN_FDS, so LISTEN_PID must be
	// set to the worker's own pid in the child, right before the exec.
	Listen bool
	// Process attributes (configs/process.go). With Chroot, Path and
	// Dir are inside it.
	Nice, OOMScoreAdj *int
	Chroot            string
}

// Build prepares the exec of slot wid: variables replaced, the program
// found and checked executable by the user of cred (spec.Credential()).
// A worker gets the LISTEN_* variables of h unless cmd or args pass socket
// fds explicitly (PassesFDs), POOLD_WID and POOLD_WATCHER, and with
// readiness "notify" NOTIFY_SOCKET; these replace any inherited value.
func Build(spec configs.Watcher, h Handoff, wid int, cred *syscall.Credential) (Command, error) {
	dir, err := Dir(spec)
	if err != nil {
		return Command{}, err
	}
	if spec.WorkingDir != "" {
		if err := identityOf(cred).enterable(spec.Chroot, dir); err != nil {
			return Command{}, err
		}
	}
	listen := len(h.Files) > 0 && !PassesFDs(spec)
	vars, env := workerEnv(spec, h, wid, dir, listen)
	argv, err := Argv(spec, vars)
	if err != nil {
		return Command{}, err
	}
	path, err := LookCommandIn(spec.Chroot, argv[0], dir, env, cred)
	if err != nil {
		return Command{}, err
	}
	rl := make(map[int]uint64, len(spec.Rlimits))
	for name, v := range spec.Rlimits {
		if res, ok := configs.RlimitResource(name); ok {
			rl[res] = v
		}
	}
	return Command{
		Path: path, Argv: argv, Env: env, Dir: dir, Files: h.Files,
		Credential: cred, Umask: spec.Umask, Rlimits: rl, Listen: listen,
		Nice: spec.Nice, OOMScoreAdj: spec.OOMScoreAdj, Chroot: spec.Chroot,
	}, nil
}

// workerEnv is the variables and environment of slot wid, as Build
// gives them: with listen the LISTEN_* variables of h, then POOLD_WID,
// POOLD_WATCHER, h's Mark and, for readiness or busy reports,
// NOTIFY_SOCKET.
func workerEnv(spec configs.Watcher, h Handoff, wid int, dir string, listen bool) (map[string]string, []string) {
	vars, env := varsAndEnv(spec, h, wid, dir)
	if listen {
		for _, kv := range h.Env {
			env = setEnv(env, kv)
		}
	}
	env = setEnv(env, "POOLD_WID="+strconv.Itoa(wid))
	env = setEnv(env, "POOLD_WATCHER="+spec.Name)
	for _, kv := range h.Mark {
		env = setEnv(env, kv)
	}
	if (spec.Readiness == "notify" || spec.ScaleBusyTarget > 0) && h.Notify != "" { // READY=1, BUSY=N
		env = setEnv(env, "NOTIFY_SOCKET="+h.Notify)
	}
	return vars, env
}

// Dir is the directory workers start in: working_dir, else poold's, or
// "/" of the chroot when one is set.
func Dir(spec configs.Watcher) (string, error) {
	if spec.WorkingDir != "" {
		return spec.WorkingDir, nil
	}
	if spec.Chroot != "" {
		return "/", nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory of poold: %w (set working_dir)", err)
	}
	return dir, nil
}

// Argv splits cmd into words, replaces variables inside each word and
// appends args, each expanded but never split.
func Argv(spec configs.Watcher, vars map[string]string) ([]string, error) {
	words, err := configs.SplitCommand(spec.Cmd)
	if err != nil {
		return nil, fmt.Errorf("cmd %q: %w", spec.Cmd, err)
	}
	argv := expandAll(words, vars)
	for _, a := range spec.Args {
		argv = append(argv, configs.Expand(a, vars))
	}
	if argv[0] == "" {
		return nil, fmt.Errorf("cmd %q: the program name is empty", spec.Cmd)
	}
	return argv, nil
}

var socketVar = regexp.MustCompile(`(\$\(|\(\()(pool|circus)\.sockets\.`)

// PassesFDs reports whether cmd or args hand the worker its sockets' fd
// numbers explicitly ($(pool.sockets.NAME), as in gunicorn's
// --bind fd://...). Such a worker is not also given LISTEN_FDS: gunicorn
// would adopt the same fd twice and fail with "Bad file descriptor".
func PassesFDs(spec configs.Watcher) bool {
	if socketVar.MatchString(spec.Cmd) {
		return true
	}
	for _, a := range spec.Args {
		if socketVar.MatchString(a) {
			return true
		}
	}
	return false
}

func expandAll(list []string, vars map[string]string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = configs.Expand(s, vars)
	}
	return out
}
