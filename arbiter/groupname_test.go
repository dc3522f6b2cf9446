package arbiter

import (
	"fmt"
	"testing"

	"github.com/poold/poold/configs"
)

// Defect: supervisorctl's GROUP:PROCESS names (stop front:*, restart
// web:web_01) were only "program front:* not found": a team coming from
// supervisord was not told that poold names the program itself.
func TestSupervisorctlGroupNamesSayWhatToName(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	h.spawns(1)
	hint := "program %s not found (known: web); poold has no supervisorctl GROUP:PROCESS names: name the watcher, the NAME of the [program:NAME] (web, not web:web_01)"
	expectRefused(t, h, []refusal{
		{"stop", map[string]any{"name": "front:*"}, fmt.Sprintf(hint, "front:*")},
		{"restart", map[string]any{"name": "web:web_01"}, fmt.Sprintf(hint, "web:web_01")},
		{"signal", map[string]any{"name": "web:web_01", "signum": "HUP"}, fmt.Sprintf(hint, "web:web_01")},
		{"list", map[string]any{"name": "web:*"}, fmt.Sprintf(hint, "web:*")},
	})
}
