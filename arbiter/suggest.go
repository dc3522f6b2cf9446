// Replies to a name that names nothing: the closest name to suggest, and
// a list of the valid ones short enough to read on one line.

package arbiter

import (
	"fmt"
	"strings"

	"github.com/poold/poold/configs"
)

// maxListed is how many valid names a "not found" reply lists before it
// only counts the rest: with dozens of watchers or ~90 options the whole
// list is one line too long to read.
const maxListed = 10

// didYouMean is `; did you mean "X"?` for the candidate a misspelt k
// most likely meant (configs.Closest, as for unknown config keys), or ""
// when none is near enough to be an obvious typo.
func didYouMean(k string, candidates []string) string {
	if c := configs.Closest(k, candidates); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// didYouMeanKey is didYouMean for an option name: poold's name for
// another process manager's (PM2's cwd is working_dir, not cmd), else
// the closest option (configs.ClosestKey).
func didYouMeanKey(k string, keys []string) string {
	if c := configs.ClosestKey(k, keys); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// listCapped joins the first maxListed names and counts the others,
// saying which command (circusctl's and poolctl's name for it) lists
// them all.
func listCapped(names []string, command string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more: the %s command lists them all",
		strings.Join(names[:maxListed], ", "), len(names)-maxListed, command)
}
