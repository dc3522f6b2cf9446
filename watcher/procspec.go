package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// procSpec builds the exec request for slot wid.
func (w *Watcher) procSpec(wid int) (ProcSpec, error) {
	s := w.spec
	dir := s.WorkingDir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return ProcSpec{}, err
		}
	}
	env := w.env()
	vars := w.vars(wid, dir)
	for i, kv := range env {
		env[i] = configs.Expand(kv, vars)
	}
	listen := len(w.socks.Files) > 0 && !passesFDs(s)
	if listen {
		env = append(env, w.socks.Env...)
	}
	env = append(env, "POOLD_WID="+strconv.Itoa(wid), "POOLD_WATCHER="+s.Name)
	if s.Readiness == "notify" && w.socks.Notify != "" {
		env = append(env, "NOTIFY_SOCKET="+w.socks.Notify)
	}

	argv, err := configs.SplitCommand(configs.Expand(s.Cmd, vars))
	if err != nil {
		return ProcSpec{}, fmt.Errorf("cmd %q: %w", s.Cmd, err)
	}
	for _, a := range s.Args {
		argv = append(argv, configs.Expand(a, vars))
	}
	path, err := resolve(argv[0], dir, env)
	if err != nil {
		return ProcSpec{}, err
	}
	rl := make(map[int]uint64, len(s.Rlimits))
	for name, v := range s.Rlimits {
		if res, ok := configs.RlimitResource(name); ok {
			rl[res] = v
		}
	}
	return ProcSpec{
		Path: path, Argv: argv, Env: env, Dir: dir, Files: w.socks.Files,
		Credential: w.cred, Umask: s.Umask, Rlimits: rl, Listen: listen,
	}, nil
}

var socketVar = regexp.MustCompile(`(\$\(|\(\()(pool|circus)\.sockets\.`)

// passesFDs reports whether cmd or args hand the worker its sockets' fd
// numbers explicitly ($(pool.sockets.NAME), as in gunicorn's
// --bind fd://...). Such a worker is not also given LISTEN_FDS: gunicorn
// would adopt the same fd twice and fail with "Bad file descriptor".
func passesFDs(s configs.Watcher) bool {
	if socketVar.MatchString(s.Cmd) {
		return true
	}
	for _, a := range s.Args {
		if socketVar.MatchString(a) {
			return true
		}
	}
	return false
}

// env is the worker environment before variables are expanded.
func (w *Watcher) env() []string {
	env := baseEnv(w.spec.CopyEnv)
	for _, kv := range w.spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, kv)
	}
	return env
}

// vars are the $(pool.X) variables of slot wid (PROTOCOL.md section 4).
// dir "" means the configured working_dir.
func (w *Watcher) vars(wid int, dir string) map[string]string {
	if dir == "" {
		dir = w.spec.WorkingDir
	}
	vars := map[string]string{
		"wid": strconv.Itoa(wid), "name": w.spec.Name, "working_dir": dir, "uid": w.spec.UID,
	}
	for name, fd := range w.socks.FDs {
		vars["sockets."+name] = strconv.Itoa(fd)
	}
	for _, kv := range w.env() {
		k, v, _ := strings.Cut(kv, "=")
		vars["env."+k] = v
	}
	return vars
}

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// baseEnv is poold's environment with copy_env, else PATH alone (so that
// commands are found as in a login shell).
func baseEnv(copyEnv bool) []string {
	if copyEnv {
		var env []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
				continue
			}
			env = append(env, kv)
		}
		return env
	}
	p := os.Getenv("PATH")
	if p == "" {
		p = defaultPath
	}
	return []string{"PATH=" + p}
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// resolve finds the executable: a name with a slash is taken relative to
// the working directory, a bare name is looked up in the worker's PATH.
func resolve(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	pathVar := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		cand := filepath.Join(d, name)
		if executable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q (give a full path or set PATH in env)", name, pathVar)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("command %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("command %s is not an executable file", path)
	}
	return nil
}

// probeEnv is the environment of an exec health check of p: the worker's
// own, plus POOLD_PID, POOLD_WID and POOLD_WATCHER.
func (w *Watcher) probeEnv(p *Process, vars map[string]string) []string {
	env := w.env()
	for i, kv := range env {
		env[i] = configs.Expand(kv, vars)
	}
	return append(env, "POOLD_PID="+strconv.Itoa(p.Pid), "POOLD_WID="+strconv.Itoa(p.Wid), "POOLD_WATCHER="+w.spec.Name)
}
