package arbiter

import (
	"reflect"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// ready_min: a pool of 4 with one slot that cannot start served 22.9k
// requests/s without an error while /readyz answered 503 (its watcher
// flapping) and kept every replica out of the Service (r57b review). With
// ready_min, enough ready workers make the watcher ready, also while a
// slot flaps or gave up; without it, every worker is needed, as before.
func TestReadyMin(t *testing.T) {
	pct := configs.DefaultWatcher("api")
	pct.ReadyMin = configs.ReadyMin{N: 75, Percent: true}
	two := configs.DefaultWatcher("api")
	two.ReadyMin = configs.ReadyMin{N: 2}
	all := configs.DefaultWatcher("api")
	ready := watcher.Process{State: watcher.ProcReady}
	starting := watcher.Process{State: watcher.ProcStarting}
	snap := func(spec configs.Watcher, st watcher.Status, procs ...watcher.Process) Snapshot {
		return Snapshot{Watchers: []WatcherSnapshot{{Name: "api", Status: st, Reason: "wid 3 is flapping", Target: 4, Spec: spec, Processes: procs}}}
	}
	tests := []struct {
		name string
		snap Snapshot
		want []string
	}{
		{"75%: 3 of 4 ready, a slot flapping", snap(pct, watcher.Flapping, ready, ready, ready), nil},
		{"75%: 3 of 4 ready, a slot that gave up", snap(pct, watcher.Failed, ready, ready, ready), nil},
		{"75%: 3 of 4 ready, active", snap(pct, watcher.Active, ready, ready, ready, starting), nil},
		{"75%: 2 of 4 ready, flapping", snap(pct, watcher.Flapping, ready, ready),
			[]string{`watcher "api" is flapping: wid 3 is flapping`}},
		{"75%: 2 of 4 ready, active", snap(pct, watcher.Active, ready, ready, starting, starting),
			[]string{`watcher "api" has 2 of 4 workers ready, fewer than its ready_min 75% (3)`}},
		{"2: 2 of 4 ready, starting", snap(two, watcher.Starting, ready, ready, starting), nil},
		{"2: none ready, stopping", snap(two, watcher.Stopping), []string{`watcher "api" is stopping: wid 3 is flapping`}},
		{"default: 3 of 4 ready, flapping", snap(all, watcher.Flapping, ready, ready, ready),
			[]string{`watcher "api" is flapping: wid 3 is flapping`}},
		{"default: 3 of 4 ready, active", snap(all, watcher.Active, ready, ready, ready, starting),
			[]string{`watcher "api" has 3 of 4 workers ready`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotReady(tt.snap); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NotReady = %q, want %q", got, tt.want)
			}
		})
	}
}
