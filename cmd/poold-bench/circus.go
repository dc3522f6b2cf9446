package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/poold/poold/events/zmqpub"
)

// Circus 0.19 is the peer poold is compatible with. It is not in Debian:
// the runner unpacks the source tarball from -circus into its temp dir
// and runs circusd and circusctl from there under Debian's python3 (which
// has zmq, tornado and psutil). circusd binds explicit tcp endpoints on
// 127.0.0.1 and no multicast; its workers get the shared socket as an
// inherited fd ($(circus.sockets.web), use_sockets) and serve it with
// the benchworker's --fd.
const circusPython = "/usr/bin/python3"

// setupCircus unpacks Circus when -peers and -circus allow it and the
// python modules it needs import; otherwise it notes why Circus is left
// out.
func (b *bench) setupCircus(ctx context.Context) {
	if !b.o.peers || b.o.circus == "" {
		return
	}
	if _, err := os.Stat(b.o.circus); err != nil {
		b.res.note("circus left out: %v (pass -circus PATH to circus-0.19.0.tar.gz)", err)
		return
	}
	dir := filepath.Join(b.tmp, "circus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.res.note("circus left out: %v", err)
		return
	}
	if out, err := exec.CommandContext(ctx, "tar", "xzf", b.o.circus, "-C", dir).CombinedOutput(); err != nil {
		b.res.note("circus left out: unpack %s: %v: %s", b.o.circus, err, out)
		return
	}
	src := filepath.Join(dir, "circus-src")
	cmd := exec.CommandContext(ctx, circusPython, "-c", "import circus, zmq, tornado, psutil; print(circus.__version__)")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+src)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.res.note("circus left out: %s cannot import circus, zmq, tornado, psutil (apt-get install python3-zmq python3-tornado python3-psutil): %v: %s", circusPython, err, out)
		return
	}
	b.circusSrc = src
	b.res.Machine["circus"] = strings.TrimSpace(string(out))
}

func (b *bench) haveCircus() bool { return b.circusSrc != "" }

// circusConfig: one watcher "web" of n benchworkers on one shared socket,
// Circus's defaults otherwise (check_delay, warmup_delay 0, no stats
// daemon), graceful_timeout 5 s as poold's.
func (b *bench) circusConfig(ctlPort, pubPort, sockPort, n int) string {
	return fmt.Sprintf(`[circus]
endpoint = tcp://127.0.0.1:%[1]d
pubsub_endpoint = tcp://127.0.0.1:%[2]d
multicast_endpoint =
loglevel = warning

[watcher:web]
cmd = %[4]s --fd $(circus.sockets.web)
use_sockets = True
numprocesses = %[5]d
graceful_timeout = 5

[env:web]
BENCH_ALIVE = %[6]s

[socket:web]
host = 127.0.0.1
port = %[3]d
`, ctlPort, pubPort, sockPort, b.worker, n, b.board.path)
}

func (b *bench) startCircus(n int) (*instance, time.Time, error) {
	dir := b.instDir(fmt.Sprintf("circus-%d", n))
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, time.Time{}, err
		}
		ports[i] = p
	}
	cfg := filepath.Join(dir, "circus.ini")
	if err := os.WriteFile(cfg, []byte(b.circusConfig(ports[0], ports[1], ports[2], n)), 0o600); err != nil {
		return nil, time.Time{}, err
	}
	cmd := exec.Command(circusPython, "-m", "circus.circusd", cfg)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+b.circusSrc)
	cmd.Dir = dir
	in := &instance{kind: sCircus, dir: dir, log: filepath.Join(dir, "circusd.log"),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2])),
		ctl:  fmt.Sprintf("tcp://127.0.0.1:%d", ports[0]),
		pub:  fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])}
	return b.startManager("circusd", in, cmd, in.log)
}

// circusctl runs circusctl against in (a whole process, as poolctl is
// measured) and returns how long it took.
func (b *bench) circusctl(in *instance, args ...string) (time.Duration, []byte, error) {
	full := append([]string{"-m", "circus.circusctl", "--endpoint", in.ctl, "--timeout", "120"}, args...)
	cmd := exec.Command(circusPython, full...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+b.circusSrc)
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil {
		return d, out, fmt.Errorf("circusctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return d, out, nil
}

// waitCircusControl polls circusctl list until circusd answers.
func (b *bench) waitCircusControl(ctx context.Context, in *instance) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := b.circusctl(in, "list")
		if err == nil {
			return nil
		}
		if in.p.exited() {
			return fmt.Errorf("circusd exited: %s", in.logTail())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("circusd control endpoint %s: %w; log: %s", in.ctl, err, in.logTail())
		}
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return err
		}
	}
}

// waitReap reads the event stream until the reap of pid and returns when
// it arrived here.
func waitReap(ctx context.Context, sub *zmqpub.Subscriber, pid int, d time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		topic, p, err := sub.Recv(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("no reap event for pid %d: %w", pid, err)
		}
		ppid, _ := p["process_pid"].(float64)
		if strings.HasSuffix(topic, ".reap") && int(ppid) == pid {
			return time.Now(), nil
		}
	}
}

// circusEvents waits for circusd's control endpoint (its PUB socket is up
// by then) and subscribes to the watcher's events.
func (b *bench) circusEvents(ctx context.Context, in *instance) (*zmqpub.Subscriber, error) {
	if err := b.waitCircusControl(ctx, in); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sub, err := zmqpub.Dial(dctx, in.pub, "watcher.web.")
	if err != nil {
		return nil, fmt.Errorf("subscribe to circusd's events at %s: %w", in.pub, err)
	}
	return sub, nil
}
