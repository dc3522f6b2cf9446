package launch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

func TestCheck(t *testing.T) {
	dir := openDir(t)
	spaced := filepath.Join(dir, "my app")
	prog := program(t, spaced, "server", 0o755)
	private := program(t, dir, "private", 0o744)
	owned(t, private)
	closed := filepath.Join(dir, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec configs.Watcher
		want []string // one "KEY: substring" per problem; none: no error
	}{
		{"ok", configs.Watcher{Cmd: "'" + prog + "' --flag"}, nil},
		{"variables", configs.Watcher{Cmd: "$(pool.working_dir)/server --port $(pool.env.PORT)", WorkingDir: spaced, Env: []string{"PORT=80"}}, nil},
		{"on PATH, as another user", configs.Watcher{Cmd: "sh -c true", UID: "60001"}, nil},
		{"unquoted path with a space", configs.Watcher{Cmd: prog + " --flag"}, []string{
			"watchers.web.cmd: " + dir + "/my: not found (cmd is split into words like a shell; quote a path that contains spaces)"}},
		{"one word: what to do", configs.Watcher{Cmd: dir + "/nope"}, []string{
			"watchers.web.cmd: " + dir + "/nope: not found (install the program there, or correct the path)"}},
		{"not executable by the user", configs.Watcher{Cmd: private, UID: "60001"}, []string{
			"watchers.web.cmd: " + private + ": not executable by uid 60001 (mode 0744, owner "}},
		{"not on the worker's PATH", configs.Watcher{Cmd: "sh", Env: []string{"PATH=" + dir}}, []string{
			`watchers.web.cmd: "sh": not found in PATH "` + dir + `"`}},
		{"unterminated quote", configs.Watcher{Cmd: `"` + prog}, []string{
			`watchers.web.cmd: command has an unterminated " quote`}},
		{"no such user", configs.Watcher{Cmd: "'" + prog + "'", UID: "no-such-user-poold"}, []string{
			`watchers.web.uid: no user "no-such-user-poold" on this machine`}},
		{"no such group", configs.Watcher{Cmd: "'" + prog + "'", GID: "no-such-group-poold"}, []string{
			`watchers.web.gid: no group "no-such-group-poold" on this machine`}},
		// A bad user used to hide a bad group of the same watcher.
		{"no such user nor group", configs.Watcher{Cmd: "'" + prog + "'", UID: "no-such-user-poold", GID: "no-such-group-poold"}, []string{
			`watchers.web.uid: no user "no-such-user-poold" on this machine`,
			`watchers.web.gid: no group "no-such-group-poold" on this machine`}},
		{"health_cmd too", configs.Watcher{Cmd: "nope-poold", HealthCheck: "exec", HealthCmd: "/nonexistent/check --pid $POOLD_PID"}, []string{
			`watchers.web.cmd: "nope-poold": not found in PATH`,
			"watchers.web.health_cmd: /nonexistent/check: not found (cmd is split into words like a shell; quote a path that contains spaces)"}},
		{"health_cmd on poold's PATH", configs.Watcher{Cmd: prog + "x", HealthCheck: "exec", HealthCmd: "sh -c 'kill -0 $POOLD_PID'", Env: []string{"PATH=/nowhere"}}, []string{
			"watchers.web.cmd: " + dir + "/my: not found"}},
		{"health_cmd unused", configs.Watcher{Cmd: "sh", HealthCmd: "/nonexistent/check"}, nil},
		// It runs as the watcher's user, so that user must be able to.
		{"health_cmd not executable by the user", configs.Watcher{Cmd: "sh", UID: "60001", HealthCheck: "exec", HealthCmd: private}, []string{
			"watchers.web.health_cmd: " + private + ": not executable by uid 60001 (mode 0744, owner "}},
		{"nofile over fs.nr_open", configs.Watcher{Cmd: "sh", Rlimits: map[string]uint64{"nofile": 99999999999, "core": 0}}, []string{
			"watchers.web.rlimits.nofile: 99999999999 is over the kernel's most open files per process (fs.nr_open "}},
		{"no such working_dir", configs.Watcher{Cmd: "'" + prog + "'", WorkingDir: dir + "/gone"}, []string{
			"watchers.web.working_dir: " + dir + "/gone: no such file or directory (create it, or set working_dir to an existing directory)"}},
		{"working_dir not a directory", configs.Watcher{Cmd: "'" + prog + "'", WorkingDir: private}, []string{
			"watchers.web.working_dir: " + private + " is not a directory (set working_dir to a directory)"}},
		// The spawn refuses it (Build): the check used to pass it, so a
		// reload rolled back or an added watcher flapped.
		{"working_dir its user may not enter", configs.Watcher{Cmd: "sh", UID: "60001", WorkingDir: closed}, []string{
			"watchers.web.working_dir: " + closed + ": uid 60001 may not enter it: directory " + closed + " is not searchable (mode 0700"}},
		{"nofile within", configs.Watcher{Cmd: "sh", Rlimits: map[string]uint64{"nofile": 1024}}, nil},
		// One --check lists them all: a bad user used to hide the missing
		// working_dir, which hid the missing program.
		{"every problem at once", configs.Watcher{Cmd: "/nonexistent/app", UID: "no-such-user-poold", WorkingDir: dir + "/gone"}, []string{
			`watchers.web.uid: no user "no-such-user-poold" on this machine`,
			"watchers.web.working_dir: " + dir + "/gone: no such file or directory",
			"watchers.web.cmd: /nonexistent/app: not found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name = "web"
			err := Check(tc.spec)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var ce *configs.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *configs.Error", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ce.Problems), len(tc.want), err)
			}
			for i, w := range tc.want {
				if got := ce.Problems[i].Key + ": " + ce.Problems[i].Msg; !strings.HasPrefix(got, w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, got, w)
				}
			}
		})
	}
}
