package procinfo

import (
	"bufio"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// churnMaster is a shell that plays a gunicorn master under
// max_requests, one step per line on its stdin: it starts a child, then
// a second, then replaces the first by a third. It prints each child's
// pid. At EOF it goes through the remaining steps and kills its children.
const churnMaster = `sleep 1000 & a=$!; echo $a
read x
sleep 1000 & b=$!; echo $b
read x
kill $a; wait $a; sleep 1000 & c=$!; echo $c
read x
kill $b $c; wait`

// Defect (r54b H2): between two full scans the sampler walked only the
// children it knew, so a master's worker started since then (a gunicorn
// master replacing one for max_requests) was missing from the tree
// metrics, poolctl stats and max_rss until the next full scan: the
// master alone, 30 MB against 115 MB in ps. The clock stands still here,
// so no full scan comes after the first.
func TestTreeSeesChildrenStartedBetweenFullScans(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", churnMaster)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	child := func() int {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("the master ended early: %v", lines.Err())
		}
		pid, err := strconv.Atoi(strings.TrimSpace(lines.Text()))
		if err != nil {
			t.Fatalf("the master printed %q, want a pid", lines.Text())
		}
		return pid
	}
	step := func() {
		t.Helper()
		if _, err := stdin.Write([]byte("\n")); err != nil {
			t.Fatal(err)
		}
	}

	s := New()
	frozen := time.Now()
	s.now = func() time.Time { return frozen }
	master := cmd.Process.Pid
	check := func(when string, want ...int) {
		t.Helper()
		tu, err := s.ReadTreeUsage([]int{master})
		if err != nil {
			t.Fatal(err)
		}
		if got := tu[master].Processes; got != 1+len(want) {
			t.Errorf("%s: the tree holds %d processes, want %d (the master and %v)", when, got, 1+len(want), want)
		}
		in, err := s.Info(master)
		if err != nil {
			t.Fatal(err)
		}
		var kids []int
		for _, k := range in.Children {
			kids = append(kids, k.PID)
		}
		slices.Sort(want)
		if !slices.Equal(kids, want) {
			t.Errorf("%s: the master's children are %v, want %v", when, kids, want)
		}
	}

	a := child()
	check("at the full scan", a)
	step()
	b := child()
	check("after a second child started", a, b)
	step()
	c := child()
	check("after the first child was replaced", b, c)
}
