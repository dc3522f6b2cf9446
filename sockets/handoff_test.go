package sockets

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestSealInherited(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := SealInherited(); err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d: flags %#x, %v; want FD_CLOEXEC", fd, flags, err)
	}
}

func TestHandoff(t *testing.T) {
	s := mustBind(t, tcpSpec("a"), tcpSpec("b"), unixSpec(t, "c"))
	a, c := mustGet(t, s, "a"), mustGet(t, s, "c")

	h, err := s.Handoff([]string{"c", "a", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Files) != 2 || h.Files[0] != c.File || h.Files[1] != a.File {
		t.Errorf("Files = %v, want [c a] in the order asked", h.Files)
	}
	if d := cmp.Diff([]string{"LISTEN_FDS=2", "LISTEN_FDNAMES=c:a"}, h.Env); d != "" {
		t.Errorf("Env (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"c": 3, "a": 4}, h.FDs); d != "" {
		t.Errorf("FDs (-want +got):\n%s", d)
	}

	for _, names := range [][]string{nil, {}} {
		h, err := s.Handoff(names)
		if err != nil || h.Files != nil || h.Env != nil || h.FDs != nil {
			t.Errorf("Handoff(%v) = %+v, %v; want the zero Handoff", names, h, err)
		}
	}

	_, err = s.Handoff([]string{"x", "a", "y"})
	wantErr(t, err, "sockets: x: unknown socket (defined sockets: ", "sockets: y: unknown socket")
	if !errors.Is(err, ErrUnknown) {
		t.Errorf("errors.Is(err, ErrUnknown) = false for %v", err)
	}
}

// helperReport is what the helper worker tells the test on its first line.
type helperReport struct {
	Pid      int
	FDs      map[int]string // fd -> readlink target, read before anything else
	DirFD    int            // the fd the helper used to list /proc/self/fd
	ListenFD string         // $LISTEN_FDS
	Names    string         // $LISTEN_FDNAMES
}

// helperServe is the worker: it lists its fds with raw system calls (no
// Go runtime file machinery), reports them, then serves one HTTP request
// on the listener it inherited at fd 3.
func helperServe() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	r := helperReport{Pid: os.Getpid(), FDs: map[int]string{}, ListenFD: os.Getenv("LISTEN_FDS"), Names: os.Getenv("LISTEN_FDNAMES")}
	dir, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	r.DirFD = dir
	buf := make([]byte, 1<<16)
	var names []string
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + name)
		if err != nil {
			target = "?" + err.Error()
		}
		r.FDs[fd] = target
	}
	unix.Close(dir)
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return fail(err)
	}

	f := os.NewFile(3, "listener")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return fail(err)
	}
	served := make(chan struct{})
	srv := &http.Server{
		ReadHeaderTimeout: 30 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "pid=%d", os.Getpid())
			close(served)
		}),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-served:
	case err := <-errc:
		return fail(err)
	case <-time.After(60 * time.Second): // hang bound
		return fail(errors.New("no request within 60s"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// TestHandoffToProcess starts a real worker with a Handoff: it must find
// its socket at fd 3 with the LISTEN_* variables, serve on it, and hold no
// other fd of ours (neither the sockets it was not given nor any pipe or
// file of this process).
func TestHandoffToProcess(t *testing.T) {
	s := mustBind(t, tcpSpec("web"), tcpSpec("other"), unixSpec(t, "api"))
	web := mustGet(t, s, "web")
	bait := map[string]bool{}
	for _, l := range s.List() {
		bait[fmt.Sprintf("socket:[%d]", inode(t, l.FD()))] = l != web
	}
	pr, pw, err := os.Pipe() // a pipe of ours that must not leak either
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	// An fd without close-on-exec, as poold may inherit from whoever
	// started it (this very test binary may hold such fds from its shell).
	stray, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(stray)
	if err := SealInherited(); err != nil {
		t.Fatal(err)
	}

	h, err := s.Handoff([]string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang bound
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append([]string{helperEnv + "=serve", "PATH=" + os.Getenv("PATH")}, h.Env...)
	cmd.ExtraFiles = h.Files
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the helper's report: %v; stderr: %s", err, stderr.String())
	}
	var r helperReport
	if err := json.Unmarshal(line, &r); err != nil {
		t.Fatalf("helper report %q: %v", line, err)
	}
	if r.Pid != cmd.Process.Pid || r.ListenFD != "1" || r.Names != "web" {
		t.Errorf("helper saw pid %d LISTEN_FDS=%q LISTEN_FDNAMES=%q; want pid %d, 1, web", r.Pid, r.ListenFD, r.Names, cmd.Process.Pid)
	}
	want := fmt.Sprintf("socket:[%d]", inode(t, web.FD()))
	if r.FDs[3] != want {
		t.Errorf("fd 3 in the worker is %q, want our socket %s", r.FDs[3], want)
	}
	for fd, target := range r.FDs {
		switch {
		case fd <= 3:
			if bait[target] {
				t.Errorf("fd %d in the worker is one of our other sockets (%s)", fd, target)
			}
		case fd == r.DirFD && target == fmt.Sprintf("/proc/%d/fd", r.Pid):
			// the worker's own listing of /proc/self/fd
		case target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]":
			// the worker's own Go runtime network poller
		case strings.HasPrefix(target, "/sys/fs/cgroup/"):
			// the worker's own Go runtime: it keeps its cgroup's CPU
			// limit files open to size GOMAXPROCS
		default:
			t.Errorf("fd %d in the worker (%s) was not handed to it", fd, target)
		}
	}
	if t.Failed() {
		t.Logf("worker fds: %v", r.FDs)
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + web.Addr() + "/")
	if err != nil {
		t.Fatalf("GET from the worker: %v; stderr: %s", err, stderr.String())
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), fmt.Sprintf("pid=%d", cmd.Process.Pid); got != want {
		t.Errorf("worker answered %q, want %q", got, want)
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("worker: %v; stderr: %s", err, stderr.String())
	}
}
