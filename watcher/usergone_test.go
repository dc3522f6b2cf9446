package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// userFiles makes passwd and group files of the test's own and has
// configs read them for the rest of the test.
func userFiles(t *testing.T, passwd, group string) (passwdPath string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("a watcher with another user needs root (Credential refuses it otherwise)")
	}
	dir := t.TempDir()
	passwdPath, groupPath := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	writeFile(t, passwdPath, passwd)
	writeFile(t, groupPath, group)
	t.Cleanup(configs.UseAccounts(configs.NewAccounts(passwdPath, groupPath, "")))
	return passwdPath
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	// As useradd and userdel do: a new file renamed over the old one.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRemovedUserFailsEveryStart: a worker's user given by name is
// looked up at each start. Once userdel removed it, a respawn, a restart
// and a scale-up fail naming the user and what to do, rather than run
// as its old uid without HOME or USER (a later user given that uid would
// own them). A user added again under another uid gets that uid.
func TestRemovedUserFailsEveryStart(t *testing.T) {
	const group = "team:x:4243:\nextra:x:4300:pooldgone\n"
	passwd := userFiles(t, "root:x:0:0:root:/root:/bin/sh\npooldgone:x:4242:4243::/home/pooldgone:/bin/sh\n", group)
	s := spec(1)
	s.UID = "pooldgone"
	w, h := newWatcher(t, s)
	w.Start()
	if c := h.lastSpec.Credential; c == nil || c.Uid != 4242 || c.Gid != 4243 || !slices.Contains(c.Groups, 4300) {
		t.Fatalf("credential %+v, want uid 4242 gid 4243 with group 4300", c)
	}

	writeFile(t, passwd, "root:x:0:0:root:/root:/bin/sh\n") // userdel pooldgone
	starts := len(h.starts)
	w.Exited(w.Pids()[0], 1)
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	wantGone := func(how string) {
		t.Helper()
		err := w.LastSpawnError()
		if len(h.starts) != starts || len(w.Pids()) != 0 || err == nil {
			t.Fatalf("%s after userdel: pids %v, spawn error %v; want no worker started", how, w.Pids(), err)
		}
		for _, want := range []string{`watcher "web": uid: no user "pooldgone" on this machine`, "create it again, or set uid/gid to an existing one and reload"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: spawn error %q, want it to say %q", how, err, want)
			}
		}
	}
	wantGone("respawn")
	w.Stop()
	w.Start()
	wantGone("restart")
	w.SetTarget(3)
	wantGone("incr")

	writeFile(t, passwd, "root:x:0:0:root:/root:/bin/sh\npooldgone:x:5000:4243::/home/pooldgone:/bin/sh\n") // useradd again
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if c := h.lastSpec.Credential; len(w.Pids()) == 0 || c == nil || c.Uid != 5000 {
		t.Fatalf("after useradd: pids %v, credential %+v, want workers as uid 5000", w.Pids(), c)
	}
}

// TestNumericUIDOutlivesItsUser: a uid given as a number is the kernel's
// id, with or without a passwd entry: removing the entry changes nothing.
func TestNumericUIDOutlivesItsUser(t *testing.T) {
	passwd := userFiles(t, "pooldnum:x:4242:4243::/home/pooldnum:/bin/sh\n", "team:x:4243:\n")
	s := spec(1)
	s.UID = "4242"
	w, h := newWatcher(t, s)
	w.Start()
	writeFile(t, passwd, "root:x:0:0:root:/root:/bin/sh\n")
	w.Exited(w.Pids()[0], 1)
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if c := h.lastSpec.Credential; len(w.Pids()) != 1 || c == nil || c.Uid != 4242 || fmt.Sprint(c.Groups) != "[4242]" {
		t.Fatalf("numeric uid after its user was removed: pids %v, credential %+v, spawn error %v; want uid 4242", w.Pids(), c, w.LastSpawnError())
	}
}
