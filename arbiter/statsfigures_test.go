package arbiter

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// TestStatsStreamFiguresMatchPs: what a stats subscriber decodes from the
// wire for a worker (the JSON MarshalPayload writes) says what ps says of
// it: resident memory (within the kernel's approximation, below), %mem,
// the program name and no CPU for a sleeping worker, and, for one that
// spins, a CPU figure near ps's.
func TestStatsStreamFiguresMatchPs(t *testing.T) {
	ps, err := exec.LookPath("ps")
	if err != nil {
		t.Fatalf("this test compares with ps (procps): %v", err)
	}
	idle := configs.DefaultWatcher("idle")
	idle.Cmd, idle.Args = "/bin/sleep", []string{"3600"}
	busy := configs.DefaultWatcher("busy")
	busy.Cmd, busy.Args = "/bin/sh", []string{"-c", "while :; do :; done"}
	for _, w := range []*configs.Watcher{&idle, &busy} {
		w.Logs.Stdout, w.Logs.Stderr, w.Logs.Ring = configs.LogToNone, configs.LogToNone, 0
		w.GracefulTimeout = 5 * time.Second
	}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{idle, busy}}, Options{})
	pids := readyPidsOf(t, h, map[string]int{"idle": 1, "busy": 1})

	bus := events.NewBus(nil)
	sub := bus.Subscribe(1024, "stat.idle.", "stat.busy.")
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.RunStats(ctx, procinfo.MinCPUInterval, bus) }()
	defer func() { cancel(); <-done }()

	for name, set := range pids {
		for pid := range set {
			t.Run(name, func(t *testing.T) {
				// RSS moves while a process starts, CPU while it
				// runs: compare until a sample and ps agree.
				var last string
				if !proctest.Poll(hang, func() bool {
					last = agrees(t, ps, name, pid, nextSample(t, sub, name, pid))
					return last == ""
				}) {
					t.Fatalf("pid %d: the stats stream and ps still differ after %v: %s", pid, hang, last)
				}
			})
		}
	}
}

// nextSample waits for the next stat.<name>.<pid> message and decodes its
// wire payload.
func nextSample(t *testing.T, sub *events.Subscription, name string, pid int) map[string]any {
	t.Helper()
	topic := "stat." + name + "." + strconv.Itoa(pid)
	deadline := time.After(hang)
	for {
		select {
		case ev := <-sub.C():
			if ev.Topic != topic {
				continue
			}
			var got map[string]any
			if err := json.Unmarshal(ev.MarshalPayload(), &got); err != nil {
				t.Fatalf("%s: payload does not decode: %v", topic, err)
			}
			return got
		case <-deadline:
			t.Fatalf("no %s message within %v", topic, hang)
			return nil
		}
	}
}

// agrees compares one decoded sample with ps; "" when they agree, else
// what differs.
func agrees(t *testing.T, ps, name string, pid int, got map[string]any) string {
	t.Helper()
	out, err := exec.Command(ps, "-o", "rss=,%mem=,%cpu=,comm=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("ps -p %d: %v", pid, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 4 {
		t.Fatalf("ps -p %d: %q", pid, out)
	}
	rssKiB, _ := strconv.ParseFloat(f[0], 64)
	mem, _ := strconv.ParseFloat(f[1], 64)
	cpu, _ := strconv.ParseFloat(f[2], 64)
	var why []string
	// poold reads RSS from /proc/<pid>/stat, ps from statm: since Linux
	// 6.2 the first is the kernel's per-CPU approximation (proc(5):
	// "inaccurate because of a kernel-internal scalability
	// optimization"), up to a few hundred KiB short of the second (1,656
	// against 1,832 KiB for a sleep, kernel 6.18).
	rss := got["rss"].(float64)
	if math.Abs(rss-rssKiB*1024) > 1<<20 {
		why = append(why, "rss "+strconv.FormatFloat(rss, 'f', -1, 64)+" against ps "+f[0]+" KiB")
	}
	if want := procinfo.HumanSize(uint64(rss)); got["mem_info1"] != want {
		why = append(why, "mem_info1 "+got["mem_info1"].(string)+" for rss "+want)
	}
	// ps rounds %mem to 0.1, poold to 0.001.
	if m := got["mem"].(float64); math.Abs(m-mem) > 0.051 {
		why = append(why, "mem "+strconv.FormatFloat(m, 'f', -1, 64)+" against ps "+f[1])
	}
	if got["cmdline"] != f[3] {
		why = append(why, "cmdline "+got["cmdline"].(string)+" against ps "+f[3])
	}
	// ps's %cpu is the average over the process's life, poold's over the
	// last interval: the same for a process that sleeps or spins all its
	// life, within what the other processes of a loaded machine take.
	c := got["cpu"].(float64)
	if name == "idle" && (c != 0 || cpu != 0) {
		why = append(why, "cpu "+strconv.FormatFloat(c, 'f', -1, 64)+" of a sleeping worker, ps "+f[2])
	}
	if name == "busy" && (c < 5 || math.Abs(c-cpu) > 40) {
		why = append(why, "cpu "+strconv.FormatFloat(c, 'f', -1, 64)+" of a spinning worker, ps "+f[2])
	}
	return strings.Join(why, "; ")
}
