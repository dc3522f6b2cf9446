package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"golang.org/x/sys/unix"
)

// The scenario loops. Each runs until ctx ends and returns what it did as
// one line of the report; the caller runs each on a goroutine it waits for.

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}

// killLoop sends SIGKILL to a random worker of watcher name every d.
func killLoop(ctx context.Context, in *instance, c *ctlclient.Client, name string, d time.Duration) string {
	kills, misses := 0, 0
	every(ctx, d, func() {
		ps, err := pids(ctx, c, name)
		if err != nil || len(ps) == 0 {
			misses++
			return
		}
		if killChild(ps[rand.IntN(len(ps))], in.pid()) {
			kills++
		} else {
			misses++
		}
	})
	return fmt.Sprintf("churn: %d workers of %s killed with SIGKILL (%d rounds found none to kill)", kills, name, misses)
}

// killChild kills pid if it is a child of parent. The pidfd makes it
// race-free: if pid was reaped and reused after the check, the pidfd
// still names the process that was checked.
func killChild(pid, parent int) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 || f[1] != strconv.Itoa(parent) {
		return false
	}
	return unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil
}

// scaleLoop alternates incr and decr of watcher name by nb every d and
// counts, just before each decr, the workers and the slots refused for the
// pids limit.
func scaleLoop(ctx context.Context, c *ctlclient.Client, name string, nb int, d time.Duration) string {
	cycles, errs, maxLive, maxRefused := 0, 0, 0, 0
	var lastErr error
	up := true
	every(ctx, d, func() {
		if !up {
			live, refused := slotCounts(ctx, c, name)
			maxLive, maxRefused = max(maxLive, live), max(maxRefused, refused)
		}
		cmd := map[bool]string{true: "incr", false: "decr"}[up]
		if _, err := do(ctx, c, cmd, map[string]any{"name": name, "nb": nb}); err != nil && ctx.Err() == nil {
			errs, lastErr = errs+1, err
		}
		if !up {
			cycles++
		}
		up = !up
	})
	if !up { // leave it as it started
		if _, err := do(context.Background(), c, "decr", map[string]any{"name": name, "nb": nb}); err != nil {
			errs, lastErr = errs+1, err
		}
	}
	s := fmt.Sprintf("scale: %d incr/decr cycles of %s by %d (%d commands failed): up to %d workers, up to %d slots refused naming pids.max",
		cycles, name, nb, errs, maxLive, maxRefused)
	if lastErr != nil {
		s += fmt.Sprintf("; last failure: %v", lastErr)
	}
	return s
}

// slotCounts counts the slots of watcher name with a worker, and those
// whose last exit is a spawn error naming pids.max.
func slotCounts(ctx context.Context, c *ctlclient.Client, name string) (live, refused int) {
	r, err := do(ctx, c, "status", map[string]any{"name": name})
	if err != nil {
		return 0, 0
	}
	slots, _ := r["slots"].([]any)
	for _, s := range slots {
		row, _ := s.(map[string]any)
		if pid, _ := row["pid"].(float64); pid > 0 {
			live++
		}
		if exit, _ := row["last_exit"].(string); strings.Contains(exit, "spawn error") && strings.Contains(exit, "pids.max") {
			refused++
		}
	}
	return live, refused
}

// silentPeers holds n connections to the control endpoint that never
// send a byte, replacing the oldest one every second.
func silentPeers(ctx context.Context, in *instance, n int) string {
	path := strings.TrimPrefix(in.endpoint, "ipc://")
	var conns []net.Conn
	opened, failed := 0, 0
	open := func() {
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			failed++
			return
		}
		opened++
		conns = append(conns, c)
	}
	for range n {
		open()
	}
	every(ctx, time.Second, func() {
		if len(conns) > 0 {
			conns[0].Close()
			conns = conns[1:]
		}
		open()
	})
	for _, c := range conns {
		c.Close()
	}
	return fmt.Sprintf("silent peers: %d held at a time, %d opened in all, %d failed to connect", n, opened, failed)
}

// probeLoop dials the control endpoint afresh every d and asks for
// status, as a user's poolctl would, and records how that went; *failed
// counts the probes that got no answer.
func probeLoop(ctx context.Context, in *instance, d time.Duration, failed *int) string {
	ok := 0
	var slowest time.Duration
	var lastErr error
	every(ctx, d, func() {
		t0 := time.Now()
		c, err := in.dial(ctx, 5*time.Second)
		if err == nil {
			_, err = do(ctx, c, "status", nil)
			c.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			*failed++
			lastErr = err
			return
		}
		ok++
		slowest = max(slowest, time.Since(t0))
	})
	s := fmt.Sprintf("probes (dial + status): %d answered, %d failed, slowest answered %v", ok, *failed, slowest.Round(time.Millisecond))
	if lastErr != nil {
		s += fmt.Sprintf("; last failure: %v", lastErr)
	}
	return s
}

// sampleLoop records the highest fds, threads and RSS of pid.
func sampleLoop(ctx context.Context, pid int, peak *figures) {
	every(ctx, time.Second, func() {
		if f, err := measure(pid); err == nil {
			peak.fds, peak.threads, peak.rssKB = max(peak.fds, f.fds), max(peak.threads, f.threads), max(peak.rssKB, f.rssKB)
		}
	})
}
