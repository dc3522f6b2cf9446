package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Whether a watcher's user and group exist is a fact of the machine, as
// whether its program and working_dir do: a user deleted under a running
// watcher made every Load of its file fail, and so every reload, an edit
// to another watcher too. Load leaves it to launch.Check (--check, start,
// and a reload of the watchers it adds or changes); add checks it, and
// set when it gives uid or gid.
func TestUserAndGroupAreMachineFacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	text := "[watchers.app]\ncmd = \"/bin/app\"\nuid = \"no-such-user-poold\"\ngid = \"no-such-group-poold\"\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load of a file whose watcher's user and group are not on this machine: %v, want it loaded (a machine fact)", err)
	}
	if w := cfg.Watchers[0]; w.UID != "no-such-user-poold" || w.GID != "no-such-group-poold" {
		t.Errorf("uid %q, gid %q, want them as the file gives them", w.UID, w.GID)
	}
	if _, err := cfg.Watchers[0].Credential(); err == nil || !strings.Contains(err.Error(), `uid: no user "no-such-user-poold" on this machine`) {
		t.Errorf("Credential (at each spawn) = %v, want the missing user named", err)
	}

	_, err = WatcherFromOptions("x", "/bin/app", map[string]any{"uid": "no-such-user-poold", "gid": "no-such-group-poold"}, nil)
	for _, want := range []string{`uid: no user "no-such-user-poold" on this machine`, `gid: no group "no-such-group-poold" on this machine`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("add: %v, want %q", err, want)
		}
	}

	gone := cfg.Watchers[0] // as after a userdel and a groupdel
	if _, err := ApplyOptions(gone, map[string]any{"numprocesses": 3}, nil); err != nil {
		t.Errorf("set numprocesses on a watcher whose user is gone: %v, want it applied", err)
	}
	for _, key := range []string{"uid", "gid"} {
		_, err := ApplyOptions(gone, map[string]any{key: "no-such-" + key + "-poold"}, nil)
		if err == nil || !strings.Contains(err.Error(), key+": no ") {
			t.Errorf("set %s to a name not on this machine: %v, want it refused", key, err)
		}
	}
	if _, err := ApplyOptions(gone, map[string]any{"uid": "0", "gid": "0"}, nil); err != nil {
		t.Errorf("set uid and gid to existing ids: %v", err)
	}
}

// TestControlNamesAreMachineFacts: the user and group names of
// arbiter.control_allow and control_read_only are not looked up by Load
// (a user deleted under a running poold made every reload fail), only
// their form is; ControlProblems asks the machine.
func TestControlNamesAreMachineFacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	text := "[arbiter]\nendpoint = \"ipc:///tmp/poold-facts.sock\"\ncontrol_allow = [\"user:root\", \"user:no-such-user-poold\"]\ncontrol_read_only = [\"group:no-such-group-poold\", \"uid:7\"]\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load of control rules naming a user and a group not on this machine: %v, want it loaded (a machine fact)", err)
	}
	err = ControlProblems(path, cfg.Arbiter)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("ControlProblems = %v, want the two unknown names", err)
	}
	for i, want := range []Problem{
		{Key: "arbiter.control_allow", Msg: `"user:no-such-user-poold": no such user`},
		{Key: "arbiter.control_read_only", Msg: `"group:no-such-group-poold": no such group`},
	} {
		if p := ce.Problems[i]; p.Key != want.Key || !strings.HasPrefix(p.Msg, want.Msg) {
			t.Errorf("problem %d = %+v, want %+v...", i, p, want)
		}
	}
	cfg.Arbiter.ControlAllow = []string{"user:root"}
	cfg.Arbiter.ControlReadOnly = []string{"gid:0"}
	if err := ControlProblems(path, cfg.Arbiter); err != nil {
		t.Errorf("ControlProblems of known names = %v, want nil", err)
	}
}
