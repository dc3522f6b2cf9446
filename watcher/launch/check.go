package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/poold/poold/configs"
)

// splitHint is added when a program is not found and cmd has several
// words: the first may be a path with spaces that was split.
const splitHint = " (cmd is split into words like a shell; quote a path that contains spaces)"

// absentHint is added when a one-word program given by its full path is
// not there.
const absentHint = " (install the program there, or correct the path)"

// Check verifies on this machine what Build will need for every worker of
// spec, so that `poold --check` and a config reload refuse a watcher that
// could never start: the user and group exist, working_dir is a
// directory, cmd splits into words, and
// its program (variables replaced as for worker 1, each socket at a dummy
// fd) exists and is executable by the watcher's user. With
// health_check = "exec" the health command's program must be executable
// by the watcher's user too, as which poold runs it, from poold's own
// working directory and PATH; the program of every command hook must be
// executable by poold, which runs hooks as itself.
//
// The error is a *configs.Error without a file, one Problem per failure
// keyed "watchers.NAME.KEY", so a caller can add the file name and merge
// the problems of several watchers.
func Check(spec configs.Watcher) error {
	ps := &problems{prefix: "watchers." + spec.Name + "."}
	// Each check runs whatever an earlier one found, so that one --check
	// lists every problem: a program is looked up as poold's own user
	// when the watcher's is unknown, and only a missing working_dir
	// leaves a relative program unchecked (its directory is not there).
	cred, credOK := checkCredential(ps, spec)
	dir, err := Dir(spec)
	if err == nil {
		err = spec.CheckWorkingDir()
	}
	dirOK := err == nil
	if !dirOK {
		ps.add("working_dir", err)
	} else if credOK && spec.WorkingDir != "" {
		// As Build checks it at each spawn: a worker's user that may not
		// enter the directory gets no worker at all.
		if err := identityOf(cred).enterable(spec.Chroot, dir); err != nil {
			ps.add("working_dir", errors.New(strings.TrimPrefix(err.Error(), "working_dir ")))
		}
	}
	h := Handoff{FDs: map[string]int{}}
	for i, name := range spec.Sockets {
		h.FDs[name] = 3 + i
	}
	vars := Vars(spec, h, 1, dir)
	prog := "" // the program's path, where it was found
	words, err := configs.SplitCommand(spec.Cmd)
	switch {
	case err != nil:
		ps.add("cmd", err)
	case !dirOK && !filepath.IsAbs(configs.Expand(words[0], vars)) && strings.Contains(words[0], "/"):
		// relative to a working_dir that is not there: nothing to look up
	default:
		path, err := LookCommandIn(spec.Chroot, configs.Expand(words[0], vars), dir, expandEnv(spec, vars), cred)
		if err == nil {
			prog, err = path, scriptProblem(spec.Chroot, path)
		}
		if err != nil && (credOK || !errors.Is(err, os.ErrPermission)) {
			ps.add("cmd", hinted(err, len(words), configs.Expand(words[0], vars)))
		}
	}
	checkExecSize(ps, spec, h, dir, prog, cred)
	checkHooks(ps, spec)
	checkRlimits(ps, spec)
	if spec.HealthCheck != "exec" || spec.HealthCmd == "" {
		return ps.err()
	}
	words, err = configs.SplitCommand(configs.Expand(spec.HealthCmd, vars))
	if err != nil {
		ps.add("health_cmd", err)
	} else if path, err := LookProbe(words[0], cred); err != nil {
		if credOK || !errors.Is(err, os.ErrPermission) {
			ps.add("health_cmd", hinted(err, len(words), words[0]))
		}
	} else if err := scriptProblem("", path); err != nil {
		ps.add("health_cmd", err)
	}
	return ps.err()
}

// checkCredential records a uid or gid that does not resolve; ok is
// false then, and cred nil (what poold itself may do).
func checkCredential(ps *problems, spec configs.Watcher) (cred *syscall.Credential, ok bool) {
	cred, err := spec.Credential()
	if err == nil {
		return cred, true
	}
	key := "gid"
	if _, uerr := (configs.Watcher{Name: spec.Name, UID: spec.UID}).Credential(); uerr != nil {
		key = "uid"
	}
	ps.add(key, unprefixed(err))
	if key == "uid" && spec.GID != "" {
		// The uid's error hid the gid's: check the group alone, so one
		// --check run names both.
		if _, gerr := (configs.Watcher{Name: spec.Name, GID: spec.GID}).Credential(); gerr != nil {
			ps.add("gid", unprefixed(gerr))
		}
	}
	return nil, false
}

// unprefixed drops Credential's "configs: watcher ..." prefix.
func unprefixed(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

func hinted(err error, words int, program string) error {
	switch {
	case !errors.Is(err, ErrNotFound):
		return err
	case words > 1:
		return fmt.Errorf("%w%s", err, splitHint)
	case filepath.IsAbs(program):
		return fmt.Errorf("%w%s", err, absentHint)
	}
	return err
}

// problems collects a watcher's problems as configs.Problems.
type problems struct {
	prefix string
	list   []configs.Problem
}

func (ps *problems) add(key string, err error) {
	ps.list = append(ps.list, configs.Problem{Key: ps.prefix + key, Msg: err.Error()})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &configs.Error{Problems: ps.list}
}

// CheckAll runs Check for every watcher and merges the problems into one
// *configs.Error naming file; nil when every watcher can run.
func CheckAll(file string, ws []configs.Watcher) error {
	var all []configs.Problem
	for _, w := range ws {
		err := Check(w)
		var ce *configs.Error
		switch {
		case errors.As(err, &ce):
			all = append(all, ce.Problems...)
		case err != nil:
			all = append(all, configs.Problem{Key: "watchers." + w.Name, Msg: err.Error()})
		}
	}
	if len(all) == 0 {
		return nil
	}
	return &configs.Error{File: file, Problems: all}
}
