package launch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// ExecSizeProblem says why argv and env (a worker's, as Build makes them
// for spec) are more than exec takes on this machine (configs.ExecLimit
// for the worker's stack limit), naming the largest keys they come from
// and what to do; "" when they fit. Check runs it for worker 1; the
// watcher adds it to a spawn that failed with E2BIG, whose bare
// "argument list too long" names nothing.
func ExecSizeProblem(spec configs.Watcher, argv, env []string) string {
	stack, from := StackLimit(spec)
	limit := configs.ExecLimit(stack)
	most := configs.ArgStrMax()
	n := configs.ExecSize(argv, env)
	parts := execParts(spec, argv, env)
	var long []string
	for _, p := range parts {
		if p.size > most {
			long = append(long, fmt.Sprintf("%s is %d bytes", p.key, p.size))
		}
	}
	const todo = "pass large data in a file the worker reads (name it in args or env), not on its command line"
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
	return fmt.Sprintf("the command line and environment are %d bytes (%d in %s, %d in %s, with a pointer to each), over the %d bytes exec takes with %s; the largest, in bytes: %s; %s, and keep the environment small; %s",
		n, configs.ExecSize(argv), count(len(argv), "argument", "arguments"), configs.ExecSize(env), count(len(env), "environment entry", "environment entries"),
		limit, from, strings.Join(top, ", "), todo, raise)
}

// checkExecSize has Check refuse a command line and environment that no
// worker's exec would take on this machine (worker 1's: a worker's own
// variables, POOLD_WID and the like, add a few bytes).
func checkExecSize(ps *problems, spec configs.Watcher, vars map[string]string) {
	argv, err := Argv(spec, vars)
	if err != nil {
		return // the cmd check says why
	}
	if msg := ExecSizeProblem(spec, argv, expandEnv(spec, vars)); msg != "" {
		ps.add("cmd", errors.New(msg))
	}
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
		return v, fmt.Sprintf("rlimits.stack %d (a quarter of it, at most %d)", v, configs.ExecCeiling)
	}
	if own.Cur == unix.RLIM_INFINITY {
		return own.Cur, "poold's unlimited stack limit"
	}
	return own.Cur, fmt.Sprintf("poold's stack limit %d (a quarter of it, at most %d)", own.Cur, configs.ExecCeiling)
}

// execPart is one string of a worker's argv or env, by the key it comes
// from, and its size (without its NUL).
type execPart struct {
	key  string
	size int
}

// execParts names the strings of argv and env, largest first: argv's
// first words are cmd's, the rest args; an environment entry is named
// by its KEY, which may come from env or from poold (copy_env, PATH,
// LISTEN_FDS and the like).
func execParts(spec configs.Watcher, argv, env []string) []execPart {
	words, _ := configs.SplitCommand(spec.Cmd)
	parts := make([]execPart, 0, len(argv)+len(env))
	for i, a := range argv {
		key := fmt.Sprintf("cmd word %d", i+1)
		if i >= len(words) {
			key = fmt.Sprintf("args[%d]", i-len(words))
		}
		parts = append(parts, execPart{key, len(a)})
	}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		parts = append(parts, execPart{"env " + name, len(e)})
	}
	slices.SortStableFunc(parts, func(a, b execPart) int { return cmp.Compare(b.size, a.size) })
	return parts
}

// ExplainSpawn adds ExecSizeProblem to err when it is exec's E2BIG,
// else returns err as it is.
func ExplainSpawn(err error, spec configs.Watcher, argv, env []string) error {
	if !errors.Is(err, syscall.E2BIG) {
		return err
	}
	msg := ExecSizeProblem(spec, argv, env)
	if msg == "" { // the exec step's own few strings tipped it over
		stack, from := StackLimit(spec)
		msg = fmt.Sprintf("the command line and environment are %d bytes, near the %d bytes exec takes with %s; pass large data in a file the worker reads, not on its command line",
			configs.ExecSize(argv, env), configs.ExecLimit(stack), from)
	}
	return fmt.Errorf("%w: %s", err, msg)
}
