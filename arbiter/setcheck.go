package arbiter

import (
	"errors"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/launch"
)

// checkSetRunnable refuses a set whose watcher could then never start a
// worker on this machine (launch.Check: a missing program, a user or
// group that does not exist, a working_dir the user may not enter), as a
// config reload refuses the same change, rather than answering ok and
// leaving the rolling change to be abandoned later. Only the problems the
// set brings are refused: one the watcher had already (a program removed
// since it started) is its own trouble, and must not refuse an unrelated
// set. The problems are keyed by option name, for the watcher.
func checkSetRunnable(before, after configs.Watcher) error {
	err := launch.Check(after)
	var ce *configs.Error
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	had := map[configs.Problem]bool{}
	var old *configs.Error
	if errors.As(launch.Check(before), &old) {
		for _, p := range old.Problems {
			had[p] = true
		}
	}
	prefix := "watchers." + after.Name + "."
	var added []configs.Problem
	for _, p := range ce.Problems {
		if had[p] {
			continue
		}
		p.Key = strings.TrimPrefix(p.Key, prefix)
		added = append(added, p)
	}
	if len(added) == 0 {
		return nil
	}
	return &configs.Error{Watcher: after.Name, Problems: added}
}
