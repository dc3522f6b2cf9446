package spawn

import (
	"encoding/json"
	"fmt"
	"os"
)

// execStep picks how a worker is exec'd, cheapest first: directly when
// nothing must happen in the child; through the exec stub (execstub.go),
// a sub-kilobyte program that sets LISTEN_PID to its own pid and the
// umask, and waits while poold sets rlimits, nice and oom_score_adj on it
// and, on a cgroup v1 host, moves it into the worker's cgroups (attrs.go), for about 0.2 ms of CPU; through the shell, whose builtins
// do LISTEN_PID and the umask ($$, which the exec keeps), for about
// 0.8 ms, where the stub cannot run; through poold's own binary (the
// shim) for the rest (rlimits with no stub, a chroot with a socket or a
// umask, some workers of another user: stubCanStart) or when there is no
// shell, which
// costs a Go start-up of the whole poold binary, a few milliseconds. A
// worker with cgroup v1 directories (joinsV1) takes the stub, which waits
// while poold moves it into them, or else the shim, which moves itself.
// viaStub says that the stub's memfd must follow the worker's files.
func (s *Spawner) execStep(spec ProcSpec) (path string, argv, env []string, viaStub bool, err error) {
	if !spec.Listen && spec.Umask < 0 && len(spec.Rlimits) == 0 && !needsShim(spec) && !joinsV1(spec) {
		return spec.Path, spec.Argv, spec.Env, false, nil
	}
	light := len(spec.Rlimits) == 0 && !needsShim(spec) && spec.Chroot == "" && !joinsV1(spec)
	if s.stub.Load() != nil && s.stubCanStart(spec) {
		env = spec.Env
		if env == nil {
			env = os.Environ() // as os.StartProcess does
		}
		path, argv, env = stubStep(spec, env)
		return path, argv, env, true, nil
	}
	if light && s.hasShell {
		script := ""
		if spec.Umask >= 0 {
			script += fmt.Sprintf("umask %04o && ", spec.Umask)
		}
		if spec.Listen {
			script += "LISTEN_PID=$$ && export LISTEN_PID && "
		}
		// $0 and "$@" pass the path and arguments through untouched.
		argv = append([]string{"sh", "-c", script + `exec "$0" "$@"`, spec.Path}, spec.Argv[1:]...)
		return s.shell, argv, spec.Env, false, nil
	}
	raw, err := json.Marshal(shimSpecOf(spec))
	if err != nil {
		return "", nil, nil, false, err
	}
	env = make([]string, 0, len(spec.Env)+1)
	env = append(env, spec.Env...)
	env = append(env, shimEnv+"="+string(raw))
	// The worker's argv follows as the shim's own, not in the JSON: one
	// environment string holds at most MAX_ARG_STRLEN (128 KiB).
	argv = make([]string, 0, 2+len(spec.Argv))
	argv = append(argv, shimArgv, spec.Path)
	return s.self, append(argv, spec.Argv...), env, false, nil
}
