package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
)

//go:embed benchworker.go.txt
var workerSource []byte

type bench struct {
	o      options
	tmp    string
	procs  *reg
	board  *board
	stderr io.Writer
	res    *results
	worker string // path of the built benchworker
	// circusSrc is the unpacked Circus package dir (PYTHONPATH), "" when
	// Circus is left out.
	circusSrc string
	seq       int // for unique per-instance dirs
	// extra is appended to poold's watcher config (the reload section's
	// -reload-surge and -reload-ready-delay).
	extra string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "poold-bench: "+format+"\n", args...)
}

func (b *bench) want(section string) bool {
	if b.o.only == "" {
		return true
	}
	for _, s := range strings.Split(b.o.only, ",") {
		if strings.TrimSpace(s) == section {
			return true
		}
	}
	return false
}

// buildWorker builds the embedded benchworker into the temp dir (standard
// library only, so no network and no module cache beyond the toolchain).
func (b *bench) buildWorker(ctx context.Context) error {
	dir := filepath.Join(b.tmp, "worker-src")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), workerSource, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module benchworker\n\ngo 1.22\n"), 0o644); err != nil {
		return err
	}
	b.worker = filepath.Join(b.tmp, "benchworker")
	gobin := "go"
	if p, err := exec.LookPath("go"); err == nil {
		gobin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		gobin = "/usr/local/go/bin/go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", b.worker, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build benchworker in %s: %w\n%s", dir, err, out)
	}
	return nil
}

func (b *bench) instDir(name string) string {
	b.seq++
	d := filepath.Join(b.tmp, fmt.Sprintf("%02d-%s", b.seq, name))
	_ = os.MkdirAll(d, 0o700)
	return d
}

// all runs every section in order (the names are main.go's sections). A
// section that fails is reported and the run goes on with the next one.
func (b *bench) all(ctx context.Context) error {
	var errs []error
	step := func(name string, f func(context.Context) error) {
		if ctx.Err() != nil || !b.want(name) {
			return
		}
		b.logf("section %s", name)
		t0 := time.Now()
		if err := f(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.logf("section %s failed: %v", name, err)
			b.res.note("section %s failed: %v", name, err)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		b.logf("section %s done in %s", name, time.Since(t0).Round(time.Millisecond))
		// Whatever a failed section left behind goes before the next one.
		b.procs.cleanup(3 * time.Second)
		b.board.drain()
	}
	step("spawn", b.spawnSection)
	step("idle", b.idleSection)
	step("replace", b.replaceSection) // also the events figures
	step("control", b.controlSection)
	step("reload", b.reloadSection)
	step("upgrade", b.upgradeSection)
	return errors.Join(errs...)
}

// freePort picks a free loopback port (closed again before use: a tiny
// race, harmless on a quiet machine).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// httpPid sends one GET on a fresh connection and returns the pid the
// worker reports ("pid N").
func httpPid(addr string, timeout time.Duration) (int, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: bench\r\n\r\n"); err != nil {
		return 0, err
	}
	body, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		return 0, err
	}
	s := string(body)
	i := strings.LastIndex(s, "pid ")
	if !strings.HasPrefix(s, "HTTP/1.") || i < 0 {
		return 0, fmt.Errorf("unexpected answer from %s: %.80q", addr, s)
	}
	return strconv.Atoi(strings.TrimSpace(s[i+4:]))
}

// answering polls addr until a GET is answered and returns when. It is
// started in a goroutine whose result the caller always receives.
func answering(ctx context.Context, addr string, deadline time.Time) (time.Time, error) {
	for {
		if _, err := httpPid(addr, time.Until(deadline)); err == nil {
			return time.Now(), nil
		} else if time.Now().After(deadline) {
			return time.Time{}, err
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		// Nothing listens yet (connection refused): poll again soon.
		time.Sleep(500 * time.Microsecond)
	}
}

type answer struct {
	at  time.Time
	err error
}

func startAnswering(ctx context.Context, addr string, d time.Duration) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		t, err := answering(ctx, addr, time.Now().Add(d))
		ch <- answer{t, err}
	}()
	return ch
}

// idleSample measures a process's RSS and CPU over window: CPU % of one
// core, RSS at the start, at the end, the maximum, and the growth (mean
// of the last third minus mean of the first third).
type idleSample struct {
	cpuPct              float64
	rssStart, rssEnd    float64 // MiB
	rssMax, rssGrowthMB float64
}

func measureIdle(ctx context.Context, pid int, window time.Duration) (idleSample, error) {
	return measureWhile(ctx, pid, window, 0, nil)
}

// measureWhile is measureIdle that also calls act at the start and then
// every `every` (a scrape); act's error ends the measure.
func measureWhile(ctx context.Context, pid int, window, every time.Duration, act func() error) (idleSample, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return idleSample{}, err
	}
	st0, err := p.Stat()
	if err != nil {
		return idleSample{}, err
	}
	cpu0, _ := cpuSeconds(pid)
	t0 := time.Now()
	var rss []float64
	tick := time.NewTicker(window / 30)
	defer tick.Stop()
	end := time.NewTimer(window)
	defer end.Stop()
	var actC <-chan time.Time
	if act != nil {
		if err := act(); err != nil {
			return idleSample{}, err
		}
		at := time.NewTicker(every)
		defer at.Stop()
		actC = at.C
	}
	rss = append(rss, float64(st0.ResidentMemory())/(1<<20))
loop:
	for {
		select {
		case <-ctx.Done():
			return idleSample{}, ctx.Err()
		case <-end.C:
			break loop
		case <-actC:
			if err := act(); err != nil {
				return idleSample{}, err
			}
		case <-tick.C:
			if st, err := p.Stat(); err == nil {
				rss = append(rss, float64(st.ResidentMemory())/(1<<20))
			}
		}
	}
	st1, err := p.Stat()
	if err != nil {
		return idleSample{}, err
	}
	el := time.Since(t0).Seconds()
	cpu1, ok := cpuSeconds(pid)
	if !ok {
		cpu0, cpu1 = st0.CPUTime(), st1.CPUTime()
	}
	s := idleSample{
		cpuPct:   (cpu1 - cpu0) / el * 100,
		rssStart: rss[0],
		rssEnd:   float64(st1.ResidentMemory()) / (1 << 20),
	}
	s.rssMax, s.rssGrowthMB = growth(append(rss, s.rssEnd))
	return s, nil
}

// growth returns the largest of rss and its growth: the mean of the last
// third minus the mean of the first third.
func growth(rss []float64) (peak, grew float64) {
	third := len(rss) / 3
	var a, z float64
	for i := 0; i < third; i++ {
		a += rss[i]
		z += rss[len(rss)-1-i]
	}
	for _, v := range rss {
		peak = max(peak, v)
	}
	if third > 0 {
		grew = (z - a) / float64(third)
	}
	return peak, grew
}

// poolctl runs bin/poolctl against endpoint and decodes its --json reply.
func (b *bench) poolctl(endpoint string, args ...string) (map[string]any, error) {
	full := append([]string{"--endpoint", endpoint, "--json"}, args...)
	_, out, err := runTimed(filepath.Join(b.o.bin, "poolctl"), full...)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("poolctl %v: %w: %s", args, err, out)
	}
	return m, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// signalAll sends sig to every pid, ignoring ones already gone.
func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}
