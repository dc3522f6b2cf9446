package launch

import (
	"errors"
	"sort"

	"github.com/poold/poold/configs"
)

// checkRlimits refuses limits a worker could never be given, which would
// make every spawn of the watcher fail; configs.RlimitProblem says which
// (the add and set commands refuse the same ones).
func checkRlimits(ps *problems, spec configs.Watcher) {
	names := make([]string, 0, len(spec.Rlimits))
	for name := range spec.Rlimits {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if msg := configs.RlimitProblem(name, spec.Rlimits[name]); msg != "" {
			ps.add("rlimits."+name, errors.New(msg))
		}
	}
}
