package arbiter

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestPidsShortNamesTheWatchersHoldingThem: a start refused for want of
// pids (EAGAIN) said which limit, not who used it up (r57b k8s L3: a
// fork bomb's watcher held 80 of 120). With a cgroup per worker, the
// error names the watchers whose workers hold the most.
func TestPidsShortNamesTheWatchersHoldingThem(t *testing.T) {
	bomb := configs.DefaultWatcher("bomb")
	bomb.Cmd = "/bin/sh"
	bomb.Args = []string{"-c", `for i in 1 2 3 4 5 6; do sleep 3600 & done; wait`}
	bomb.GracefulTimeout = time.Second
	web := configs.DefaultWatcher("web")
	web.Cmd, web.Args = "sleep", []string{"3600"}
	web.GracefulTimeout = time.Second
	for _, w := range []*configs.Watcher{&bomb, &web} {
		w.PidsMax = 100 // a pids cgroup of their own to count in, on cgroup v1 too
	}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{bomb, web}}, Options{})
	needContainment(t, h)
	refused := fmt.Errorf("fork/exec /bin/x: %w", syscall.EAGAIN)
	var got string
	proctest.Eventually(t, "bomb's 7 processes counted", func() bool {
		got = onLoop(t, h.a, func() any { return h.a.explainPids(refused).Error() }).(string)
		return strings.Contains(got, `watcher "bomb" 7`)
	})
	if want := `the workers holding the most pids (processes and threads, their cgroups' pids.current): watcher "bomb" 7, watcher "web" 1;`; !strings.Contains(got, want) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
	if !strings.HasPrefix(got, refused.Error()+"; ") {
		t.Errorf("the error itself is not kept first: %q", got)
	}
	other := fmt.Errorf("fork/exec /bin/x: %w", syscall.ENOMEM)
	if got := onLoop(t, h.a, func() any { return h.a.explainPids(other) }).(error); got != other {
		t.Errorf("an error other than EAGAIN changed: %v", got)
	}
}

func TestPidsShortWithoutCgroupsSaysPooldCannotTell(t *testing.T) {
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args = "sleep", []string{"3600"}
	w.GracefulTimeout = time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	got := onLoop(t, h.a, func() any { return h.a.explainPids(fmt.Errorf("fork: %w", syscall.EAGAIN)).Error() }).(string)
	if want := "poold runs its workers without cgroups here (process group (cgroups turned off)), so it cannot tell which watcher holds them"; !strings.Contains(got, want) {
		t.Errorf("got %q, want it to contain %q", got, want)
	}
}
