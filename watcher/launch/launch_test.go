package launch

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/poold/poold/configs"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openDir is a temporary directory that every user may search (t.TempDir
// and its parent are private to the test's user).
func openDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// program writes an executable shell script at dir/rel and returns its path.
func program(t testing.TB, dir, rel string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	return path
}

func TestEnv(t *testing.T) {
	t.Setenv("PATH", "/poold/bin")
	t.Setenv("LISTEN_FDS", "9")
	t.Setenv("NOTIFY_SOCKET", "/run/poold.sock")
	t.Setenv("LAUNCH_TEST_KEEP", "kept")
	for _, tc := range []struct {
		name    string
		copyEnv bool
		env     []string
		want    []string // entries that must be there
		absent  []string // names that must not be there
		n       int      // exact length when > 0
	}{
		{"path only", false, nil, []string{"PATH=/poold/bin"}, []string{"LAUNCH_TEST_KEEP"}, 1},
		{"env on top", false, []string{"A=1", "PATH=/mine"}, []string{"PATH=/mine", "A=1"}, nil, 2},
		{"names keep their case", false, []string{"Path=/x", "a=lower", "A=upper"}, []string{"PATH=/poold/bin", "Path=/x", "a=lower", "A=upper"}, nil, 4},
		{"later entry wins, once", false, []string{"A=1", "A=2"}, []string{"A=2"}, nil, 2},
		{"values kept as written", false, []string{"V=$HOME x=y"}, []string{"V=$HOME x=y"}, nil, 2},
		{"copy_env", true, []string{"LAUNCH_TEST_KEEP=mine"}, []string{"PATH=/poold/bin", "LAUNCH_TEST_KEEP=mine"}, []string{"LISTEN_FDS", "NOTIFY_SOCKET"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Env(configs.Watcher{CopyEnv: tc.copyEnv, Env: tc.env})
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("lacks %q: %q", w, got)
				}
			}
			for _, a := range tc.absent {
				if slices.ContainsFunc(got, func(kv string) bool { return strings.HasPrefix(kv, a+"=") }) {
					t.Errorf("has %s: %q", a, got)
				}
			}
			if tc.n > 0 && len(got) != tc.n {
				t.Errorf("got %d entries, want %d: %q", len(got), tc.n, got)
			}
			for i, kv := range got {
				k, _, _ := strings.Cut(kv, "=")
				if slices.ContainsFunc(got[i+1:], func(e string) bool { return strings.HasPrefix(e, k+"=") }) {
					t.Errorf("%s is set twice: %q", k, got)
				}
			}
		})
	}
}

func TestVars(t *testing.T) {
	spec := configs.Watcher{Name: "web", UID: "nobody", WorkingDir: "/srv/app", Env: []string{"PORT=80$(pool.wid)", "Mixed=Case"}}
	h := Handoff{FDs: map[string]int{"web": 3, "admin": 4}}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	entry, err := exec.Command("getent", "passwd", "nobody").Output()
	if err != nil {
		t.Fatalf("getent passwd nobody: %v", err)
	}
	shell := strings.TrimSpace(string(entry[bytes.LastIndexByte(entry, ':')+1:]))
	for _, tc := range []struct {
		wid  int
		dir  string
		want map[string]string
	}{
		{1, "", map[string]string{"wid": "1", "working_dir": "/srv/app", "env.PORT": "801"}},
		{12, "/elsewhere", map[string]string{"wid": "12", "working_dir": "/elsewhere", "env.PORT": "8012"}},
	} {
		got := Vars(spec, h, tc.wid, tc.dir)
		want := map[string]string{
			"name": "web", "uid": "nobody", "sockets.web": "3", "sockets.admin": "4",
			"env.Mixed": "Case", "env.PATH": os.Getenv("PATH"),
			// nobody's login variables, as its worker gets them.
			"env.HOME": nobody.HomeDir, "env.USER": "nobody", "env.LOGNAME": "nobody",
			"env.SHELL": shell,
		}
		for k, v := range tc.want {
			want[k] = v
		}
		if os.Getenv("PATH") == "" {
			want["env.PATH"] = DefaultPath
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("wid %d dir %q (-want +got):\n%s", tc.wid, tc.dir, d)
		}
	}
}

func TestPassesFDs(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		args []string
		want bool
	}{
		{"gunicorn", []string{"--bind", "fd://$(pool.sockets.web)"}, true},
		{"uvicorn --fd $(circus.sockets.web)", nil, true},
		{"server", []string{"--fd", "((pool.sockets.web))"}, true},
		{"server", []string{"--wid", "$(pool.wid)"}, false},
		{"server", []string{"$(pool.env.SOCKETS)"}, false},
		{"server", nil, false},
	} {
		if got := PassesFDs(configs.Watcher{Cmd: tc.cmd, Args: tc.args}); got != tc.want {
			t.Errorf("cmd %q args %q: PassesFDs = %v, want %v", tc.cmd, tc.args, got, tc.want)
		}
	}
}

func TestBuild(t *testing.T) {
	dir := filepath.Join(openDir(t), "my app")
	prog := program(t, dir, "bin/server", 0o755)
	quoted := "'" + prog + "'"
	sock, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	h := Handoff{Files: []*os.File{sock}, Env: []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web"}, FDs: map[string]int{"web": 3}, Notify: "/run/n.sock"}
	t.Setenv("POOLD_WID", "99") // inherited with copy_env: replaced
	for _, tc := range []struct {
		name    string
		spec    configs.Watcher
		argv    []string
		env     []string // entries that must be there
		absent  []string // names that must not be there
		listen  bool
		rlimits map[int]uint64
		err     error
	}{
		{name: "quoted path, words then args",
			spec: configs.Watcher{Cmd: `"` + prog + `" --a "b c"`, Args: []string{"--wid=$(pool.wid)", "x y", ""}},
			argv: []string{prog, "--a", "b c", "--wid=7", "x y", ""},
			env:  []string{"POOLD_WID=7", "POOLD_WATCHER=web", "LISTEN_FDS=1", "LISTEN_FDNAMES=web"}, listen: true},
		{name: "variable with a space stays one word",
			spec: configs.Watcher{Cmd: "$(pool.working_dir)/bin/server $(pool.env.FLAGS)", WorkingDir: dir, Env: []string{"FLAGS=-a -b"}},
			argv: []string{prog, "-a -b"}, env: []string{"FLAGS=-a -b"}, listen: true},
		{name: "relative to working_dir",
			spec: configs.Watcher{Cmd: "bin/server", WorkingDir: dir},
			argv: []string{"bin/server"}, listen: true},
		{name: "explicit fds: no LISTEN_FDS",
			spec: configs.Watcher{Cmd: quoted, Args: []string{"--bind", "fd://$(pool.sockets.web)"}},
			argv: []string{prog, "--bind", "fd://3"}, absent: []string{"LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET"}},
		{name: "notify, copy_env, rlimits",
			spec: configs.Watcher{Cmd: quoted, Readiness: "notify", CopyEnv: true, Rlimits: map[string]uint64{"nofile": 4096}},
			argv: []string{prog}, env: []string{"NOTIFY_SOCKET=/run/n.sock", "POOLD_WID=7"}, listen: true,
			rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 4096}},
		{name: "unquoted path with a space", spec: configs.Watcher{Cmd: dir + "/bin/server"}, err: ErrNotFound},
		{name: "unterminated quote", spec: configs.Watcher{Cmd: `"` + prog}, err: errors.New("unterminated")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name, tc.spec.Umask = "web", 0o27
			got, err := Build(tc.spec, h, 7, nil)
			if tc.err != nil {
				if err == nil || !errors.Is(err, tc.err) && !strings.Contains(err.Error(), tc.err.Error()) {
					t.Fatalf("got %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Path != prog || got.Umask != 0o27 || got.Listen != tc.listen || len(got.Files) != 1 {
				t.Errorf("got path %q umask %o listen %v files %d; want %q 027 %v 1", got.Path, got.Umask, got.Listen, len(got.Files), prog, tc.listen)
			}
			if d := cmp.Diff(tc.argv, got.Argv); d != "" {
				t.Errorf("argv (-want +got):\n%s", d)
			}
			for _, w := range tc.env {
				if !slices.Contains(got.Env, w) {
					t.Errorf("env lacks %q: %q", w, got.Env)
				}
			}
			for _, a := range append(tc.absent, "POOLD_WID=99") {
				if slices.ContainsFunc(got.Env, func(kv string) bool { return strings.HasPrefix(kv, a) }) {
					t.Errorf("env has %s: %q", a, got.Env)
				}
			}
			if d := cmp.Diff(tc.rlimits, got.Rlimits, cmp.Comparer(func(a, b map[int]uint64) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); d != "" {
				t.Errorf("rlimits (-want +got):\n%s", d)
			}
		})
	}
}

func TestProbeEnv(t *testing.T) {
	dir := t.TempDir()
	spec := configs.Watcher{Name: "web", WorkingDir: dir, Env: []string{"HOME=$(pool.working_dir)", "N=$(pool.wid)", "POOLD_PID=1"}}
	got := ProbeEnv(spec, Handoff{}, 3, 4242)
	for _, w := range []string{"HOME=" + dir, "N=3", "POOLD_PID=4242", "POOLD_WID=3", "POOLD_WATCHER=web"} {
		if !slices.Contains(got, w) {
			t.Errorf("lacks %q: %q", w, got)
		}
	}
	if slices.Contains(got, "POOLD_PID=1") {
		t.Errorf("POOLD_PID from env not replaced: %q", got)
	}
}

// BenchmarkBuild is one worker's Build, which poold pays for every
// spawn: a watcher with sockets and an env entry that refers to another
// one, as the tenk benchmark's (cmd/poold-bench) has.
func BenchmarkBuild(b *testing.B) {
	dir := openDir(b)
	prog := program(b, dir, "server", 0o755)
	spec := configs.DefaultWatcher("web")
	spec.Cmd = prog + " --wid $(pool.wid)"
	spec.WorkingDir = dir
	spec.Env = []string{"BENCH_ALIVE=/tmp/board", "WHERE=$(pool.env.BENCH_ALIVE)"}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(); w.Close() })
	h := Handoff{Files: []*os.File{r}, Env: []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web"}, FDs: map[string]int{"web": 3}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(spec, h, 7, nil); err != nil {
			b.Fatal(err)
		}
	}
}
