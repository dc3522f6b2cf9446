package launch

import (
	"os"

	"github.com/poold/poold/configs"
)

// checkHooks verifies that the program of every command hook is one poold
// can run: hooks run as poold, from its working directory and PATH.
func checkHooks(ps *problems, spec configs.Watcher) {
	if len(spec.Hooks) == 0 {
		return
	}
	cwd, err := os.Getwd()
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
		case err != nil:
			ps.add(key, err)
		default:
			if _, lerr := LookCommand(words[0], cwd, []string{"PATH=" + os.Getenv("PATH")}, nil); lerr != nil {
				ps.add(key, hinted(lerr, len(words), words[0]))
			}
		}
	}
}
