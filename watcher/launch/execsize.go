package launch

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// passInAFile is what to do with a command line exec cannot take.
const passInAFile = "pass large data in a file the worker reads (name it in args or env), not on its command line"

// ExecSizeProblem says why c's argv and env (a worker's, as Build makes
// them for spec), with what its exec step adds (StepSize), are more than
// exec takes on this machine (configs.ExecLimit for the worker's stack
// limit), naming the largest keys they come from and what to do; "" when
// they fit. Check runs it for worker 1; the watcher adds it to a spawn
// that failed with E2BIG, whose bare "argument list too long" names
// nothing.
func ExecSizeProblem(spec configs.Watcher, c Command) string {
	stack, from := StackLimit(spec)
	limit := configs.ExecLimit(stack)
	most := configs.ArgStrMax()
	step := StepSize(c)
	n := configs.ExecSize(c.Argv, c.Env) + step
	parts := execParts(spec, c.Argv, c.Env)
	var long []string
	for _, p := range parts {
		if p.size > most {
			long = append(long, fmt.Sprintf("%s is %d bytes", p.key, p.size))
		}
	}
	const todo = passInAFile
	if len(long) > 0 {
		return fmt.Sprintf("%s: over the kernel's limit of %d bytes for one argument or environment entry; %s", strings.Join(long, ", "), most, todo)
	}
	if n <= limit {
		return ""
	}
	top := make([]string, 0, 3)
	for _, p := range parts[:min(3, len(parts))] {
		top = append(top, fmt.Sprintf("%s %d", p.key, p.size))
	}
	raise := "or raise poold's stack limit (ulimit -s; LimitSTACK= under systemd)"
	switch {
	case limit >= configs.ExecCeiling:
		raise = "no stack limit allows more"
	case strings.HasPrefix(from, "rlimits.stack"):
		raise = "or raise rlimits.stack"
	}
	return fmt.Sprintf("the command line and environment are %d bytes (%d in %s, %d in %s, with a pointer to each, and up to %d that poold adds to exec them: the program's path and its exec step's own strings), over %s; the largest, in bytes: %s; %s, and keep the environment small; %s",
		n, configs.ExecSize(c.Argv), count(len(c.Argv), "argument", "arguments"), configs.ExecSize(c.Env), count(len(c.Env), "environment entry", "environment entries"),
		step, limitText(stack, from), strings.Join(top, ", "), todo, raise)
}

// maxSocketPath is the longest path a unix socket may have (sun_path
// less its NUL): Check counts NOTIFY_SOCKET at that length.
const maxSocketPath = 107

// checkExecSize has Check refuse a command line and environment that no
// worker's exec would take on this machine: worker 1's, as Build makes
// them, with what only the spawn knows counted at its most (the LISTEN_*
// variables of spec's sockets, NOTIFY_SOCKET at the longest socket path,
// the Mark at its longest)
// and the exec step's strings (StepSize). path is the program's path, ""
// when it was not found.
func checkExecSize(ps *problems, spec configs.Watcher, h Handoff, dir, path string, cred *syscall.Credential) {
	listen := len(spec.Sockets) > 0 && !PassesFDs(spec)
	h.Env = []string{"LISTEN_FDS=" + strconv.Itoa(len(spec.Sockets)), "LISTEN_FDNAMES=" + strings.Join(spec.Sockets, ":")}
	h.Notify = strings.Repeat("n", maxSocketPath)
	h.Mark = longestMark
	vars, env := workerEnv(spec, h, 1, dir, listen)
	argv, err := Argv(spec, vars)
	if err != nil {
		return // the cmd check says why
	}
	if path == "" {
		path = argv[0]
	}
	c := Command{Path: path, Argv: argv, Env: env, Dir: dir, Credential: cred, Chroot: spec.Chroot}
	if checkLongStrings(ps, spec, c) {
		return
	}
	if msg := ExecSizeProblem(spec, c); msg != "" {
		ps.add("cmd", errors.New(msg))
	}
}

// checkLongStrings has Check refuse each string of c over the kernel's
// limit for one, under the key it comes from (args[0], env[2], cmd), so
// that --check, which leaves out a machine problem of a key the file's
// own checks named already, reports an oversized argument once: it
// named args[0] and this check cmd, and the user read the one problem
// twice. It reports whether it found any.
func checkLongStrings(ps *problems, spec configs.Watcher, c Command) bool {
	most, found := configs.ArgStrMax(), false
	for _, p := range execParts(spec, c.Argv, c.Env) {
		if p.size > most {
			found = true
			ps.add(p.cfgKey, fmt.Errorf("%s is %d bytes: over the kernel's limit of %d bytes for one argument or environment entry; %s", p.key, p.size, most, passInAFile))
		}
	}
	return found
}

// StepSize is the most the exec of c adds to its argv and env, as
// configs.ExecSize counts them: the file name exec is given, which the
// kernel copies with the strings, and the strings of the exec step the
// spawner picks (watcher/spawn's execStep), of which poold's shim adds
// the most: its own binary's path as the file name, "poold-exec" and the
// program's path before the worker's argv, LISTEN_PID, and its spec in
// POOLD_EXEC_SHIM, counted here with room to spare (a few fixed fields,
// the paths it names with room for escapes, and the groups). The exec
// stub (/proc/self/fd/N, a control word, the path, LISTEN_PID) and the
// shell ("sh", "-c", a short script, the path) add less.
func StepSize(c Command) uint64 {
	self, err := os.Executable()
	if err != nil {
		self = strings.Repeat("x", unix.PathMax)
	}
	spec := 512 + 2*(len(c.Path)+len(c.Chroot)+len(c.Dir))
	if c.Credential != nil {
		spec += 11 * len(c.Credential.Groups)
	}
	return configs.ExecSize([]string{self, "poold-exec", c.Path, "LISTEN_PID=XXXXXXXXXX", "POOLD_EXEC_SHIM=" + strings.Repeat("x", spec)})
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// StackLimit is the stack limit a worker of spec is exec'd with, and
// where it comes from: poold's own soft RLIMIT_STACK, or rlimits.stack
// when lower (an exec step, itself exec'd under poold's limit, sets it
// before it execs the worker).
func StackLimit(spec configs.Watcher) (uint64, string) {
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &own); err != nil {
		own.Cur = 8 << 20 // the usual default
	}
	if v, ok := spec.Rlimits["stack"]; ok && v < own.Cur {
		return v, fmt.Sprintf("rlimits.stack %d", v)
	}
	if own.Cur == unix.RLIM_INFINITY {
		return own.Cur, "poold's stack limit, unlimited"
	}
	return own.Cur, fmt.Sprintf("poold's stack limit %d", own.Cur)
}

// limitText names what exec takes with the stack limit stack, which
// comes from from (StackLimit), and which of the kernel's rules sets it:
// a quarter of the stack limit, or the floor of 32 pages under a small
// one, or the ceiling of 6 MiB over a large one.
func limitText(stack uint64, from string) string {
	limit := configs.ExecLimit(stack)
	switch {
	case limit >= configs.ExecCeiling:
		return fmt.Sprintf("the %d bytes exec takes at most, whatever the stack limit (here %s)", limit, from)
	case limit > stack/4:
		return fmt.Sprintf("the %d bytes exec takes at least, the kernel's floor (a quarter of %s is less)", limit, from)
	}
	return fmt.Sprintf("the %d bytes exec takes with %s (a quarter of it)", limit, from)
}

// execPart is one string of a worker's argv or env, by the key it comes
// from, as a message names it (key: "args[0]", "env NAME") and as a
// problem's key does (cfgKey: "args[0]", "env[2]", "cmd"), and its size
// (without its NUL).
type execPart struct {
	key, cfgKey string
	size        int
}

// execParts names the strings of argv and env, largest first: argv's
// first words are cmd's, the rest args; an environment entry is named
// by its KEY, which may come from env or from poold (copy_env, PATH,
// LISTEN_FDS and the like: its problem key is then env, or copy_env).
func execParts(spec configs.Watcher, argv, env []string) []execPart {
	words, _ := configs.SplitCommand(spec.Cmd)
	parts := make([]execPart, 0, len(argv)+len(env))
	for i, a := range argv {
		key, cfgKey := fmt.Sprintf("cmd word %d", i+1), "cmd"
		if i >= len(words) {
			key = fmt.Sprintf("args[%d]", i-len(words))
			cfgKey = key
		}
		parts = append(parts, execPart{key, cfgKey, len(a)})
	}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		parts = append(parts, execPart{"env " + name, envKey(spec, name), len(e)})
	}
	slices.SortStableFunc(parts, func(a, b execPart) int { return cmp.Compare(b.size, a.size) })
	return parts
}

// envKey is the key of spec an environment entry named name comes from:
// env[i] when env sets it, else copy_env when poold's own environment is
// copied, else env (an entry poold adds).
func envKey(spec configs.Watcher, name string) string {
	for i, e := range spec.Env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			return fmt.Sprintf("env[%d]", i)
		}
	}
	if spec.CopyEnv {
		return "copy_env"
	}
	return "env"
}

// ExplainSpawn adds ExecSizeProblem to err when it is exec's E2BIG,
// else returns err as it is.
func ExplainSpawn(err error, spec configs.Watcher, c Command) error {
	if !errors.Is(err, syscall.E2BIG) {
		return err
	}
	msg := ExecSizeProblem(spec, c)
	if msg == "" { // what StepSize does not foresee, or a limit that changed
		stack, from := StackLimit(spec)
		msg = fmt.Sprintf("the command line and environment are %d bytes, and their exec step adds up to %d, under %s, yet exec refused them (has poold's stack limit changed?); pass large data in a file the worker reads, not on its command line",
			configs.ExecSize(c.Argv, c.Env), StepSize(c), limitText(stack, from))
	}
	return fmt.Errorf("%w: %s", err, msg)
}
