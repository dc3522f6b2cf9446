package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poold/poold/watcher/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hang is a generous bound that only catches a hang.
const hang = 10 * time.Second

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *probe.Error", err, err)
	}
	if err.Error() != want {
		t.Errorf("error %q\nwant     %q", err, want)
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := TCP(ln.Addr().String()).Check(ctxFor(t, hang)); err != nil {
		t.Errorf("open port: %v", err)
	}
	addr := closedAddr(t)
	wantErr(t, TCP(addr).Check(ctxFor(t, hang)), "tcp probe "+addr+": connection refused")
}

func TestHTTP(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(204)
		case "/fail":
			w.WriteHeader(503)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/slow":
			<-r.Context().Done()
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ok := HTTP(srv.URL + "/ok")
	for range 3 {
		if err := ok.Check(ctxFor(t, hang)); err != nil {
			t.Fatalf("2xx: %v", err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections for 3 checks: keep-alive is on", n)
	}
	// No idle connection is left to the server: closing it does not
	// have to wait for any, and goleak sees no transport goroutine.
	wantErr(t, HTTP(srv.URL+"/fail").Check(ctxFor(t, hang)), "http probe "+srv.URL+"/fail: status 503")
	wantErr(t, HTTP(srv.URL+"/redirect").Check(ctxFor(t, hang)), "http probe "+srv.URL+"/redirect: status 302")
	wantErr(t, HTTP(srv.URL+"/slow").Check(ctxFor(t, 100*time.Millisecond)), "http probe "+srv.URL+"/slow: timed out")

	addr := closedAddr(t)
	wantErr(t, HTTP("http://"+addr+"/health").Check(ctxFor(t, hang)), "http probe http://"+addr+"/health: connection refused")
	if err := HTTP("://bad").Check(ctxFor(t, hang)); err == nil || !strings.HasPrefix(err.Error(), "http probe ://bad: ") {
		t.Errorf("bad url: %v", err)
	}
}

// A proxy in the environment must not catch probes of the worker.
func TestHTTPIgnoresProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	t.Setenv("HTTP_PROXY", "http://"+closedAddr(t))
	t.Setenv("NO_PROXY", "")
	if err := HTTP(srv.URL).Check(ctxFor(t, hang)); err != nil {
		t.Error(err)
	}
}

func TestExec(t *testing.T) {
	if err := Exec("true", nil).Check(ctxFor(t, hang)); err != nil {
		t.Errorf("true: %v", err)
	}
	wantErr(t, Exec("false", nil).Check(ctxFor(t, hang)), `exec probe "false": exit status 1`)
	// The reason is the last line on stderr, else on stdout: where a
	// script's error or a traceback's exception is.
	wantErr(t, Exec(`sh -c 'echo checking; echo "  not healthy: $X  " >&2; echo >&2; exit 3'`, []string{"X=db down"}).Check(ctxFor(t, hang)),
		`exec probe "sh -c 'echo checking; echo \"  not healthy: $X  \" >&2; echo >&2; exit 3'": exit status 3: not healthy: db down`)
	wantErr(t, Exec(`sh -c 'echo checking; echo; echo "  not healthy  "; echo; exit 3'`, nil).Check(ctxFor(t, hang)),
		`exec probe "sh -c 'echo checking; echo; echo \"  not healthy  \"; echo; exit 3'": exit status 3: not healthy`)
	wantErr(t, Exec(`sh -c 'yes line | head -c 100000; echo the end >&2; exit 1'`, nil).Check(ctxFor(t, hang)),
		`exec probe "sh -c 'yes line | head -c 100000; echo the end >&2; exit 1'": exit status 1: the end`)
	wantErr(t, Hook("false", nil, nil, nil).Check(ctxFor(t, hang)), `command "false": exit status 1`)
	// The line goes to status replies and terminals: a terminal's
	// escape sequences in it (a hook quoting outside data) are escaped.
	esc := Hook(`sh -c 'printf "\033[2J\033]0;pwned\007ok \302\233 caf\303\251 \377\n" >&2; exit 1'`, nil, nil, nil).Check(ctxFor(t, hang))
	if want := `: exit status 1: \x1b[2J\x1b]0;pwned\aok \u009b café \xff`; esc == nil || !strings.HasSuffix(esc.Error(), want) {
		t.Errorf("hook printing escapes: %v, want it to end %q", esc, want)
	}
	if err := Exec("sh -c 'test \"$POOLD_PID\" = 42'", []string{"POOLD_PID=42"}).Check(ctxFor(t, hang)); err != nil {
		t.Errorf("env: %v", err)
	}
	err := Exec("/nonexistent/check", nil).Check(ctxFor(t, hang))
	wantErr(t, err, `exec probe "/nonexistent/check": no such file or directory`)
	wantErr(t, Exec("no-such-probe-cmd --x", nil).Check(ctxFor(t, hang)), `exec probe "no-such-probe-cmd --x": executable file not found in $PATH`)
	wantErr(t, Exec("sh -c 'oops", nil).Check(ctxFor(t, hang)), `exec probe "sh -c 'oops": command has an unterminated ' quote`)
	wantErr(t, Exec("  ", nil).Check(ctxFor(t, hang)), `exec probe "  ": empty command`)
}

// waitGone waits for pid to end, and kills it before failing if it does
// not.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	if !proctest.Poll(hang, func() bool { return !proctest.Alive(pid) }) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("pid %d still alive", pid)
	}
}

// A timed-out command is killed with its whole group: the shell and the
// sleep it started.
func TestExecTimeoutKillsGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd := fmt.Sprintf(`sh -c 'sleep 10 & echo $! > %s; wait'`, pidfile)
	start := time.Now()
	err := Exec(cmd, nil).Check(ctxFor(t, time.Second))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("timed-out check took %v", took)
	}
	wantErr(t, err, fmt.Sprintf("exec probe %q: timed out", cmd))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap DeadlineExceeded: %v", err)
	}
	b, rerr := os.ReadFile(pidfile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
}

// A command that exits leaves nothing behind in its group.
func TestExecKillsLeftovers(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd := fmt.Sprintf(`sh -c 'sleep 10 >/dev/null 2>&1 & echo $! > %s'`, pidfile)
	if err := Exec(cmd, nil).Check(ctxFor(t, hang)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
}

// flaky fails n times, then passes.
type flaky struct{ n, calls int }

func (f *flaky) Check(context.Context) error {
	f.calls++
	if f.calls <= f.n {
		return fmt.Errorf("attempt %d", f.calls)
	}
	return nil
}

func TestPoll(t *testing.T) {
	f := &flaky{n: 3}
	if err := Poll(ctxFor(t, hang), f, time.Millisecond, 0); err != nil || f.calls != 4 {
		t.Errorf("err %v after %d calls, want nil after 4", err, f.calls)
	}
	// Never passes: the last error comes back when ctx ends.
	f = &flaky{n: 1 << 30}
	err := Poll(ctxFor(t, 100*time.Millisecond), f, 5*time.Millisecond, 0)
	if err == nil || err.Error() != fmt.Sprintf("attempt %d", f.calls) || f.calls < 2 {
		t.Errorf("err %v after %d calls", err, f.calls)
	}
}

// Readiness of a port that starts listening later.
func TestPollTCPBecomesReady(t *testing.T) {
	addr := closedAddr(t)
	tries := &countingProbe{p: TCP(addr)}
	var ln net.Listener
	defer func() {
		if ln != nil {
			ln.Close()
		}
	}()
	tries.after = func(n int) {
		if n == 3 { // the "worker" binds after a few failed attempts
			var err error
			if ln, err = net.Listen("tcp", addr); err != nil {
				t.Errorf("rebind %s: %v", addr, err)
			}
		}
	}
	if err := Poll(ctxFor(t, hang), tries, time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if tries.n != 4 {
		t.Errorf("%d checks, want 4", tries.n)
	}
}

type countingProbe struct {
	p     Probe
	n     int
	after func(int)
}

func (c *countingProbe) Check(ctx context.Context) error {
	err := c.p.Check(ctx)
	c.n++
	c.after(c.n)
	return err
}

// TestPollRetriesAHungRequest: a worker whose ready URL did not answer
// one request (busy starting) held the readiness poll on that request
// until ready_timeout, 60 s by default, however soon it answered the
// next. Each attempt now has its own bound.
func TestPollRetriesAHungRequest(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	if err := Poll(ctxFor(t, hang), HTTP(srv.URL), time.Millisecond, 100*time.Millisecond); err != nil {
		t.Fatalf("readiness poll of a URL that hung once and then answers: %v", err)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("%d requests, want the hung one and another", n)
	}
}
