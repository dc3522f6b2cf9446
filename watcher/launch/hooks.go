package launch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/poold/poold/configs"
)

// CheckHooks is Check's look at the command hooks alone, for an add or a
// set on the control socket: there, as in circusd, a worker's program
// that is missing is the worker's matter (its slot backs off), but a hook
// that cannot run would fail only when its event comes, and circusd
// refuses such a hook at once.
func CheckHooks(spec configs.Watcher) error {
	ps := &problems{prefix: "watchers." + spec.Name + "."}
	checkHooks(ps, spec)
	return ps.err()
}

// checkHooks verifies that the program of every command hook is one poold
// can run: hooks run as poold, from its working directory and PATH.
func checkHooks(ps *problems, spec configs.Watcher) {
	if len(spec.Hooks) == 0 {
		return
	}
	for _, name := range configs.HookNames {
		cmd, ok := spec.Hooks[name]
		if !ok {
			continue
		}
		key := "hooks." + name
		words, serr := configs.SplitCommand(cmd)
		switch {
		case serr != nil:
			ps.add(key, serr)
		default:
			if path, lerr := LookOwn(words[0]); lerr != nil {
				ps.add(key, hookHinted(lerr, words))
			} else if serr := scriptProblem("", path); serr != nil {
				ps.add(key, serr)
			}
		}
	}
}

// hookHinted is hinted, saying too that a dotted name not found is read
// as what it likely is: a Circus hook (a Python callable circusd imports).
func hookHinted(err error, words []string) error {
	if errors.Is(err, ErrNotFound) && len(words) == 1 && !strings.Contains(words[0], "/") && strings.Contains(words[0], ".") {
		return fmt.Errorf("%w (%s reads as a Python callable, which circusd imports; poold runs a program: give its path)", err, words[0])
	}
	return hinted(err, len(words), words[0])
}
