package arbiter

import (
	"testing"

	"github.com/poold/poold/configs"
)

// TestFdsNeededCountsAnElasticPoolAtItsMax: an autoscaling pool was
// counted at its numprocesses (2), not at the max_workers its scaling
// may grow it to (3,000), so the host that most needed the open-file
// warning got none, and growth later failed one spawn at a time with
// "too many open files" (r56b-rvmerge3).
func TestFdsNeededCountsAnElasticPoolAtItsMax(t *testing.T) {
	fixed := configs.DefaultWatcher("fixed")
	fixed.NumProcesses = 2
	elastic := configs.DefaultWatcher("elastic")
	elastic.NumProcesses, elastic.MaxWorkers = 2, 3000
	onDemand := configs.DefaultWatcher("lazy")
	onDemand.NumProcesses, onDemand.OnDemand = 4, true // at most max(numprocesses, 1)
	for _, tc := range []struct {
		w       configs.Watcher
		workers int
	}{{fixed, 2}, {elastic, 3000}, {onDemand, 4}} {
		need := FdsNeeded([]configs.Watcher{tc.w}, 0)
		if need.Workers != tc.workers {
			t.Errorf("%s: counted %d workers, want %d", tc.w.Name, need.Workers, tc.workers)
		}
		if want := fdBase + tc.workers*fdsPerWorker(tc.w.Logs); need.Running != want {
			t.Errorf("%s: %d fds running, want %d", tc.w.Name, need.Running, want)
		}
	}
}
