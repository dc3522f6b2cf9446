package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// instance is one running manager (poold, supervisord or gunicorn) with
// its own directory, config and log.
type instance struct {
	kind string
	p    *proc
	dir  string
	log  string
	addr string // shared socket (poold, gunicorn), "" for supervisord
	ctl  string // poold: control endpoint; supervisord: config path
	pub  string // poold: event endpoint
	// metrics is poold's metrics_address (host:port), where nobody
	// scrapes unless a measure does.
	metrics string
}

func (in *instance) stop(grace time.Duration) time.Duration {
	return in.p.stop(syscall.SIGTERM, grace)
}

func (in *instance) logTail() string {
	return strings.TrimSpace(tail(in.log, 1500))
}

// pooldConfig is the bench's poold config: one watcher "web" of n
// benchworkers on one shared socket. Kills in the replace loop come every
// few hundred ms, so backoff_reset is 200ms (a worker up that long counts
// as healthy and is replaced at once, as with the default 10s in real
// life) and flapping detection is off. The console is off; metrics are
// served on their own port, as a production setup would. max_processes
// (watcher and arbiter) is raised to n when n is over poold's defaults
// (1,024 and 8,192), so that any -sizes or -idle-sizes runs; it is not
// lowered below them, as the control section incrs its pool of 1.
func (b *bench) pooldConfig(dir string, n, port, metricsPort int) string {
	return fmt.Sprintf(`[arbiter]
endpoint = "ipc://%[1]s/ctl.sock"
pubsub_endpoint = "ipc://%[1]s/pub.sock"
stats_endpoint = "ipc://%[1]s/stats.sock"
log_level = "warn"
max_processes = %[8]d

[web]
enabled = false
metrics_address = "127.0.0.1:%[6]d"

[sockets.web]
host = "127.0.0.1"
port = %[2]d

[watchers.web]
cmd = %[3]q
numprocesses = %[4]d
max_processes = %[7]d
sockets = ["web"]
env = ["BENCH_ALIVE=%[5]s"]
graceful_timeout = "5s"
backoff_reset = "200ms"
flapping_attempts = 0
`, dir, port, b.worker, n, b.board.path, metricsPort, max(n, 1024), max(n, 8192)) + b.extra
}

// startPoold starts poold with n workers and returns at once, with the
// time just before the exec.
func (b *bench) startPoold(n int) (*instance, time.Time, error) {
	dir := b.instDir(fmt.Sprintf("poold-%d", n))
	port, err := freePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	return b.launchPoold(dir, b.pooldConfig(dir, n, port, metricsPort), port, metricsPort)
}

// launchPoold writes conf as dir's poold.toml and starts bin/poold on it,
// its output in dir's poold.log; metricsPort 0: no metrics listener. t0
// is the moment of the exec.
func (b *bench) launchPoold(dir, conf string, port, metricsPort int) (*instance, time.Time, error) {
	return b.launchPooldWith(dir, conf, port, metricsPort, nil)
}

// launchPooldWith is launchPoold with poold's command line after wrap
// (nil: none), a program that execs it in place (so its pid is poold's).
func (b *bench) launchPooldWith(dir, conf string, port, metricsPort int, wrap []string) (*instance, time.Time, error) {
	cfg := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, time.Time{}, err
	}
	argv := append(slices.Clone(wrap), filepath.Join(b.o.bin, "poold"), cfg)
	cmd := exec.Command(argv[0], argv[1:]...)
	in := &instance{kind: sPoold, dir: dir, log: filepath.Join(dir, "poold.log"),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		ctl:  "ipc://" + dir + "/ctl.sock", pub: "ipc://" + dir + "/pub.sock"}
	if metricsPort != 0 {
		in.metrics = net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))
	}
	return b.startManager("poold", in, cmd, in.log)
}

// startManager starts cmd, manager name of in, its stdout and stderr
// written to the file output (created); it returns in with its process
// and t0, the moment of the exec.
func (b *bench) startManager(name string, in *instance, cmd *exec.Cmd, output string) (*instance, time.Time, error) {
	logf, err := os.Create(output)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	p, err := b.procs.start(name, cmd)
	if err != nil {
		return nil, t0, err
	}
	in.p = p
	return in, t0, nil
}

// waitControl polls poolctl status until poold answers.
func (b *bench) waitControl(ctx context.Context, in *instance) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := b.poolctl(in.ctl, "--timeout", "2s", "status")
		if err == nil {
			return nil
		}
		if in.p.exited() {
			return fmt.Errorf("poold exited: %s", in.logTail())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("poold control endpoint %s: %w; log: %s", in.ctl, err, in.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// supervisorConfig: n benchworkers as one program, each listening on its
// own ephemeral port (supervisord hands over no socket), no log files.
// startsecs=0 so a worker is RUNNING at once and a kill is an ordinary
// exit that supervisord restarts without its start-retry logic.
func (b *bench) supervisorConfig(dir string, n int) string {
	return fmt.Sprintf(`[supervisord]
nodaemon = true
logfile = %[1]s/supervisord.log
pidfile = %[1]s/supervisord.pid
childlogdir = %[1]s
loglevel = warn
minfds = 4096
minprocs = 200

[unix_http_server]
file = %[1]s/supervisor.sock
chmod = 0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://%[1]s/supervisor.sock

[program:web]
command = %[2]s --listen 127.0.0.1:0
process_name = %%(program_name)s_%%(process_num)d
numprocs = %[3]d
environment = BENCH_ALIVE="%[4]s"
startsecs = 0
autorestart = true
stopsignal = TERM
stopwaitsecs = 5
stdout_logfile = NONE
stderr_logfile = NONE
`, dir, b.worker, n, b.board.path)
}

func (b *bench) startSupervisord(n int) (*instance, time.Time, error) {
	dir := b.instDir(fmt.Sprintf("supervisord-%d", n))
	cfg := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(cfg, []byte(b.supervisorConfig(dir, n)), 0o600); err != nil {
		return nil, time.Time{}, err
	}
	cmd := exec.Command(supervisordPath, "-n", "-c", cfg)
	in := &instance{kind: sSup, dir: dir, log: filepath.Join(dir, "supervisord.log"), ctl: cfg}
	return b.startManager("supervisord", in, cmd, filepath.Join(dir, "stderr.log"))
}

// gunicornFiles: a WSGI app answering "pid N" and a config whose
// post_worker_init hook sends the same alive datagram as benchworker.
const gunicornApp = `import os
def app(environ, start_response):
    body = ("pid %d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

func (b *bench) gunicornConfig(dir string, n, port int) string {
	return fmt.Sprintf(`import os, socket, time
bind = "127.0.0.1:%[1]d"
workers = %[2]d
worker_class = "sync"
graceful_timeout = 5
backlog = 2048
loglevel = "warning"
errorlog = %[3]q
pidfile = %[4]q

def post_worker_init(worker):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(("%%d %%d" %% (os.getpid(), time.time_ns())).encode(), %[5]q)
    finally:
        s.close()
`, port, n, filepath.Join(dir, "gunicorn.log"), filepath.Join(dir, "gunicorn.pid"), b.board.path)
}

func (b *bench) startGunicorn(n int) (*instance, time.Time, error) {
	dir := b.instDir(fmt.Sprintf("gunicorn-%d", n))
	port, err := freePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "benchapp.py"), []byte(gunicornApp), 0o600); err != nil {
		return nil, time.Time{}, err
	}
	cfg := filepath.Join(dir, "gunicorn.conf.py")
	if err := os.WriteFile(cfg, []byte(b.gunicornConfig(dir, n, port)), 0o600); err != nil {
		return nil, time.Time{}, err
	}
	cmd := exec.Command(gunicornPath, "-c", cfg, "--chdir", dir, "benchapp:app")
	in := &instance{kind: sGuni, dir: dir, log: filepath.Join(dir, "gunicorn.log"),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	return b.startManager("gunicorn", in, cmd, filepath.Join(dir, "stderr.log"))
}

// The peers run from Debian's packages: their paths are fixed, so that a
// supervisord or gunicorn installed elsewhere (pip, pyenv) on PATH is not
// measured instead by accident.
const (
	supervisordPath = "/usr/bin/supervisord"
	gunicornPath    = "/usr/bin/gunicorn"
)

func (b *bench) haveSupervisord() bool { return b.o.peers && exists(supervisordPath) }
func (b *bench) haveGunicorn() bool    { return b.o.peers && exists(gunicornPath) }

// notePeers says which peers the run leaves out and why, as setupCircus
// does for Circus, so that a missing column is never silent.
func (b *bench) notePeers() {
	if !b.o.peers {
		b.res.note("circus, supervisord and gunicorn left out: -peers=false")
		return
	}
	for _, p := range []struct{ name, path, pkg string }{
		{"supervisord", supervisordPath, "supervisor"},
		{"gunicorn", gunicornPath, "gunicorn"},
	} {
		if !exists(p.path) {
			b.res.note("%s left out: %s not found (apt-get install %s; one elsewhere on PATH is not used)", p.name, p.path, p.pkg)
		}
	}
}

// floorRun is the baseline of the spawn section: forkFloor's plain
// fork/exec loop of the benchworker. viaShim routes each start through
// poold's poold-exec shim, which sets LISTEN_PID first: poold's path for
// workers with nice or oom_score_adj; plain workers start through the
// memfd exec stub, which the floor does not model.
//
// The poller of the shared socket starts at t0, before the first fork, as
// it does for a manager right after the manager's exec: a request sent
// then waits in the bound socket's backlog for the first worker.
type floorRun struct {
	*forkFloor
	ansc   <-chan answer // the socket's first answer, from t0
	cancel context.CancelFunc
}

func (b *bench) startFloor(ctx context.Context, n int, viaShim bool) (*floorRun, error) {
	path, argv := b.worker, []string{b.worker}
	env := []string{"BENCH_ALIVE=" + b.board.path}
	if viaShim {
		// The shim's spec is poold-internal (watcher/shim.go); keep in step.
		spec := fmt.Sprintf(`{"path":%q,"argv":[%q],"umask":-1,"listen":true}`, b.worker, b.worker)
		env = append(env, "POOLD_EXEC_SHIM="+spec)
		path, argv = filepath.Join(b.o.bin, "poold"), []string{"poold-exec", b.worker}
	}
	ff, err := newForkFloor(path, argv, env)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	fr := &floorRun{forkFloor: ff, cancel: cancel}
	fr.t0 = time.Now()
	fr.ansc = startAnswering(actx, fr.addr, spawnTimeout(n))
	if err := fr.fork(n); err != nil {
		cancel()
		<-fr.ansc
		ff.stop(syscall.SIGKILL, 5*time.Second)
		return nil, err
	}
	return fr, nil
}

// stop SIGTERMs every worker at once and reaps them (SIGKILL after a
// grace); it returns how long they took. The caller has read ansc.
func (fr *floorRun) stop() time.Duration {
	fr.cancel()
	return fr.forkFloor.stop(syscall.SIGTERM, 5*time.Second)
}

// blockingFile returns a dup of l's socket as an *os.File that the runner
// can hand to many children without side effects. os/exec calls Fd() on
// each ExtraFiles entry, and Fd() on a file os considers non-blocking
// clears O_NONBLOCK on the shared open file description every time: a Go
// worker already blocked in accept(2) on it then cannot close its
// listener until a connection arrives. Switching to blocking once, before
// any worker starts, and wrapping a blocking dup avoids that.
func blockingFile(l *net.TCPListener) (*os.File, error) {
	f, err := l.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fd := int(f.Fd()) // now blocking
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(nfd)
	return os.NewFile(uintptr(nfd), "listener"), nil
}
