package procinfo

import (
	"testing"
	"time"
)

// A worker's child exits and another process takes its pid before the
// next full scan of /proc: the sample must not list that stranger under
// the worker, whose max_rss would count its memory.
func TestAReusedChildPidIsNotInTheTree(t *testing.T) {
	f, s := newFakeProc(t)
	f.proc(fakeStat{pid: 10, ppid: 1, comm: "gunicorn", starttime: 100 * userHZ, rssPages: 100, argv: []string{"gunicorn"}})
	f.proc(fakeStat{pid: 11, ppid: 10, comm: "gunicorn", starttime: 101 * userHZ, rssPages: 100, argv: []string{"gunicorn"}})
	if in := mustInfo(t, s, 10); len(in.Children) != 1 {
		t.Fatalf("worker 10 with its child 11: children %v", in.Children)
	}
	f.remove(11)
	f.proc(fakeStat{pid: 11, ppid: 1, comm: "stranger", starttime: 105 * userHZ, rssPages: 1 << 20, argv: []string{"stranger"}})
	f.advance(time.Second)
	if in := mustInfo(t, s, 10); len(in.Children) != 0 {
		t.Errorf("pid 11 reused by a process of parent 1: listed under worker 10 as %+v", in.Children)
	}
}
