package configs

import (
	"fmt"
	"os"
	"strings"
)

// What Linux copies into a new program at exec, and how much it takes
// (fs/exec.c): each argument and environment string, its NUL included,
// at most MAX_ARG_STRLEN (32 pages) long; all of them, plus a pointer
// to each, at most a quarter of the stack limit, capped at 3/4 of
// _STK_LIM (6 MiB) and never under 32 pages. A command line past
// either fails every exec with E2BIG, "argument list too long", so the
// watcher could never start a worker.

// ExecCeiling is the most argument and environment bytes any exec
// takes, whatever the stack limit: 3/4 of the kernel's _STK_LIM (8 MiB).
const ExecCeiling = 6 << 20

// ArgStrMax is the longest argument or environment string, in bytes
// without its NUL, that exec takes: MAX_ARG_STRLEN (32 pages) less one.
func ArgStrMax() int { return 32*os.Getpagesize() - 1 }

// ExecLimit is what exec takes in all (ExecSize) for a process whose
// stack limit (soft, RLIMIT_STACK) is stack.
func ExecLimit(stack uint64) uint64 {
	floor := uint64(32 * os.Getpagesize())
	return max(min(ExecCeiling, stack/4), floor)
}

// ExecSize is what lists of strings (argv, envp) take of ExecLimit:
// each string with its NUL, and a pointer to each.
func ExecSize(lists ...[]string) uint64 {
	var n uint64
	for _, l := range lists {
		for _, s := range l {
			n += uint64(len(s)) + 1 + 8
		}
	}
	return n
}

// checkExecSizes refuses what no exec could take: a word of cmd or
// health_cmd, an entry of args or env, longer than ArgStrMax, or cmd,
// args and env together over ExecCeiling (the most under any stack
// limit; launch.Check compares them with this machine's limit).
func checkExecSizes(ps *problems, k func(string) string, w *Watcher) {
	most, long := ArgStrMax(), false
	const todo = "pass large data in a file the worker reads (name it in args or env), not on its command line"
	for _, key := range []string{"cmd", "health_cmd"} {
		line := w.Cmd
		if key == "health_cmd" {
			line = w.HealthCmd
		}
		if len(line) <= most {
			continue
		}
		words, err := SplitCommand(line)
		if err != nil {
			continue // checkSplit says why
		}
		for i, word := range words {
			if len(word) > most {
				long = true
				ps.add(k(key), "word %d (%s) is %d bytes, over the kernel's limit of %d bytes for one argument; %s", i+1, abbrev(word), len(word), most, todo)
			}
		}
	}
	for i, a := range w.Args {
		if len(a) > most {
			long = true
			ps.add(fmt.Sprintf("%s[%d]", k("args"), i), "%s is %d bytes, over the kernel's limit of %d bytes for one argument; %s", abbrev(a), len(a), most, todo)
		}
	}
	for i, e := range w.Env {
		if len(e) > most {
			long = true
			name, _, _ := strings.Cut(e, "=")
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), "%s is %d bytes, over the kernel's limit of %d bytes for one environment entry (KEY=VALUE); %s", name, len(e), most, todo)
		}
	}
	if long {
		return // the total would only repeat it
	}
	words, _ := SplitCommand(w.Cmd)
	if n := ExecSize(words, w.Args, w.Env); n > ExecCeiling {
		ps.add(k("cmd"), "with args and env is %d bytes (%d in cmd and args, %d in env, with a pointer to each string), over the %d bytes the kernel takes in all for a program's arguments and environment, whatever the stack limit; %s",
			n, ExecSize(words, w.Args), ExecSize(w.Env), uint64(ExecCeiling), todo)
	}
}

// abbrev is the start of a long string, quoted, for an error message.
func abbrev(s string) string {
	if len(s) <= 24 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:24])
}
