package procinfo

import "testing"

// A worker's limits judge its heaviest process, not the sum of its tree:
// a preloaded gunicorn's workers share most of their pages with the
// master, and each one's RSS counts them again.
func TestPeakIsTheHeaviestProcessNotTheSum(t *testing.T) {
	const mib = 1 << 20
	master := Info{PID: 10, RSS: 300 * mib, CPU: 1}
	for i, rss := range []uint64{310, 330, 305} {
		master.Children = append(master.Children, Info{PID: 11 + i, RSS: rss * mib, CPU: Float(40 + 10*i)})
	}
	master.Children[1].Children = []Info{{PID: 20, RSS: mib, CPU: 95}}
	pk := master.Peak()
	if pk.RSS != 330*mib || pk.RSSPid != 12 || pk.CPU != 95 || pk.CPUPid != 20 {
		t.Errorf("peak %+v; want rss 330 MiB of pid 12, cpu 95 %% of pid 20", pk)
	}
	alone := Info{PID: 7, RSS: mib, CPU: 3}
	if pk := alone.Peak(); pk.RSS != mib || pk.RSSPid != 7 || pk.CPU != 3 || pk.CPUPid != 7 {
		t.Errorf("peak of a lone process %+v", pk)
	}
}
