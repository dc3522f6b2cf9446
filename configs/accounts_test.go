package configs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func accountFilesFor(t testing.TB, passwd, group string) (passwdPath, groupPath string) {
	t.Helper()
	dir := t.TempDir()
	passwdPath, groupPath = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	for path, text := range map[string]string{passwdPath: passwd, groupPath: group} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return passwdPath, groupPath
}

func TestAccountsReadThePasswdAndGroupFiles(t *testing.T) {
	passwd := "root:x:0:0:root:/root:/bin/bash\n" +
		"broken:x:1:1\n" +
		"app:x:1000:1000:App,,,:/srv/app:/usr/sbin/nologin\r\n" +
		"noshell:x:1001:1001::/home/noshell:\n" +
		"app:x:2000:2000::/elsewhere:/bin/sh\n" // the first line wins
	group := "app:x:1000:\nweb:x:1100:app,noshell\nops:x:1200:noshell\n"
	p, g := accountFilesFor(t, passwd, group)
	a := NewAccounts(p, g, "")
	for name, want := range map[string]string{
		"root":    "0 0 /root /bin/bash",
		"app":     "1000 1000 /srv/app /usr/sbin/nologin",
		"noshell": "1001 1001 /home/noshell ",
	} {
		u, err := a.User(name)
		if got := fmt.Sprint(u.UID, " ", u.GID, " ", u.Home, " ", u.Shell); err != nil || got != want {
			t.Errorf("User(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"broken", "ghost", "roo"} {
		if _, err := a.User(name); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("no user %q on this machine (not in %s; NSS is not asked)", name, p)) {
			t.Errorf("User(%q): %v, want no such user", name, err)
		}
	}
	if gs := a.Groups(Account{Name: "noshell"}); fmt.Sprint(gs) != "[1100 1200]" {
		t.Errorf("groups of noshell %v, want [1100 1200]", gs)
	}
	if gid, err := a.Group("ops"); gid != 1200 || err != nil {
		t.Errorf("Group(ops) = %d, %v", gid, err)
	}
	if u, ok := a.UserByID(1001); !ok || u.Name != "noshell" {
		t.Errorf("UserByID(1001) = %+v, %v", u, ok)
	}
}

// TestAccountsSeeAChangedFile: the files are parsed again when they
// change (userdel writes a new one), not at each lookup.
func TestAccountsSeeAChangedFile(t *testing.T) {
	p, g := accountFilesFor(t, "gone:x:1500:1500::/home/gone:/bin/sh\n", "")
	a := NewAccounts(p, g, "")
	if _, err := a.User("gone"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".new", []byte("other:x:1501:1501::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	if _, err := a.User("gone"); err == nil {
		t.Error("a user removed from the passwd file is still found")
	}
	if u, err := a.User("other"); err != nil || u.UID != 1501 {
		t.Errorf("a user added: %+v, %v", u, err)
	}
}

// fakeNSS answers getent as a directory (LDAP, SSSD) would for a user and
// a group the files lack, and counts its runs.
type fakeNSS struct{ runs []string }

func (f *fakeNSS) getent(_ context.Context, args ...string) ([]byte, error) {
	f.runs = append(f.runs, strings.Join(args, " "))
	switch strings.Join(args, " ") {
	case "passwd diruser", "passwd 2901":
		return []byte("diruser:*:2901:2901:Dir User:/home/diruser:/bin/zsh\n"), nil
	case "group dirgroup":
		return []byte("dirgroup:*:2902:diruser\n"), nil
	case "initgroups diruser":
		return []byte("diruser               2902 2903\n"), nil
	}
	return nil, nil // exit status 2: not found
}

// TestAccountsAskNSSOnAMiss: a name the files lack is asked of getent,
// once per nssTTL; a name the files have never is.
func TestAccountsAskNSSOnAMiss(t *testing.T) {
	p, g := accountFilesFor(t, "root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\n")
	a := NewAccounts(p, g, "")
	nss := &fakeNSS{}
	a.getent = nss.getent
	u, err := a.User("diruser")
	if err != nil || u.UID != 2901 || u.GID != 2901 || u.Home != "/home/diruser" || u.Shell != "/bin/zsh" {
		t.Fatalf("User(diruser) = %+v, %v", u, err)
	}
	if gs := a.Groups(u); fmt.Sprint(gs) != "[2902 2903]" {
		t.Errorf("groups of diruser %v, want [2902 2903] (getent initgroups)", gs)
	}
	if gid, err := a.Group("dirgroup"); gid != 2902 || err != nil {
		t.Errorf("Group(dirgroup) = %d, %v", gid, err)
	}
	if _, err := a.User("nobody-anywhere"); err == nil || !strings.Contains(err.Error(), "nor known to NSS through getent") {
		t.Errorf("a name neither knows: %v", err)
	}
	_, _ = a.User("diruser")
	_, _ = a.User("root")
	_, _ = a.Group("root")
	want := "[passwd diruser initgroups diruser group dirgroup passwd nobody-anywhere]"
	if fmt.Sprint(nss.runs) != want {
		t.Errorf("getent runs %v, want %v (once per name, none for the files' names)", nss.runs, want)
	}
	a.now = func() time.Time { return time.Now().Add(nssTTL) }
	_, _ = a.User("diruser")
	if len(nss.runs) != 5 {
		t.Errorf("getent runs %v: an answer older than nssTTL is asked again", nss.runs)
	}
}

// TestRealGetentAgreesWithTheFiles: the getent of this machine, asked
// for the users and groups of /etc/passwd and /etc/group, gives what the
// files give (the NSS path is real, not only a fake).
func TestRealGetentAgreesWithTheFiles(t *testing.T) {
	if _, err := exec.LookPath("getent"); err != nil {
		t.Fatalf("getent not found (%v): install libc-bin", err)
	}
	files := NewAccounts("/etc/passwd", "/etc/group", "")
	empty, emptyGroup := accountFilesFor(t, "", "")
	nss := NewAccounts(empty, emptyGroup, "/usr/bin/getent")
	for _, name := range []string{"root", "nobody", "daemon"} {
		want, err := files.User(name)
		if err != nil {
			t.Fatalf("%s not in /etc/passwd: %v", name, err)
		}
		got, err := nss.User(name)
		if err != nil || got.UID != want.UID || got.GID != want.GID || got.Home != want.Home || got.Shell != want.Shell || !got.nss {
			t.Errorf("getent passwd %s = %+v, %v; the file says %+v", name, got, err, want)
		}
		if g, w := nss.Groups(got), files.Groups(want); !slices.Equal(g, w) && !(len(g) == 0 && len(w) == 0) {
			t.Errorf("getent initgroups %s = %v; the file says %v", name, g, w)
		}
	}
	for _, name := range []string{"root", "daemon"} {
		want, _ := files.Group(name)
		if got, err := nss.Group(name); err != nil || got != want {
			t.Errorf("getent group %s = %d, %v; the file says %d", name, got, err, want)
		}
	}
}

// TestDirectoryUserThroughGetentOnPATH: a watcher's uid and gid, and a
// control rule, that only NSS knows (not in /etc/passwd or /etc/group)
// resolve through the getent found in PATH, with the user's groups,
// HOME and SHELL.
func TestDirectoryUserThroughGetentOnPATH(t *testing.T) {
	bin := t.TempDir()
	script := `#!/bin/sh
case "$1 $2" in
"passwd pooldtest-dir") echo "pooldtest-dir:*:2901:2901:Dir:/home/pooldtest-dir:/bin/zsh" ;;
"group pooldtest-dirgrp") echo "pooldtest-dirgrp:*:2902:pooldtest-dir" ;;
"initgroups pooldtest-dir") echo "pooldtest-dir 2902" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "getent"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(UseAccounts(NewAccounts("/etc/passwd", "/etc/group", "/usr/bin/getent")))
	if os.Geteuid() != 0 {
		t.Fatal("a watcher with another user needs root (Credential refuses it otherwise)")
	}
	w := Watcher{Name: "dir", UID: "pooldtest-dir"}
	cred, err := w.Credential()
	if err != nil || cred.Uid != 2901 || cred.Gid != 2901 || fmt.Sprint(cred.Groups) != "[2901 2902]" {
		t.Fatalf("Credential = %+v, %v; want uid 2901 gid 2901 groups [2901 2902]", cred, err)
	}
	if env := fmt.Sprint(w.LoginEnv()); env != "[USER=pooldtest-dir LOGNAME=pooldtest-dir HOME=/home/pooldtest-dir SHELL=/bin/zsh]" {
		t.Errorf("LoginEnv %s", env)
	}
	w.GID = "pooldtest-dirgrp"
	if cred, err := w.Credential(); err != nil || cred.Gid != 2902 {
		t.Errorf("gid from NSS: %+v, %v", cred, err)
	}
	for _, s := range []string{"user:pooldtest-dir", "group:pooldtest-dirgrp"} {
		r, err := ParseControlRule(s)
		if err != nil || r.Unknown != "" || (r.ID != 2901 && r.ID != 2902) {
			t.Errorf("control rule %s: %+v, %v", s, r, err)
		}
	}
	if gs := GroupsOfUID(2901); fmt.Sprint(gs) != "[]" && fmt.Sprint(gs) != "[2901 2902]" {
		t.Errorf("GroupsOfUID(2901) = %v", gs)
	}
}

// TestAccountsAtHandNeverRunsGetent: a lookup without wait (the
// arbiter's loop) runs no getent: a name NSS must be asked for fails with
// ErrNSSPending; once a waiting lookup has kept the answer, it is found.
func TestAccountsAtHandNeverRunsGetent(t *testing.T) {
	p, g := accountFilesFor(t, "root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\n")
	a := NewAccounts(p, g, "")
	nss := &fakeNSS{}
	a.getent = nss.getent
	if _, err := a.user("diruser", false); !errors.Is(err, ErrNSSPending) {
		t.Fatalf("user at hand: %v, want ErrNSSPending", err)
	}
	if len(nss.runs) != 0 {
		t.Fatalf("getent runs %v without wait", nss.runs)
	}
	if _, err := a.User("diruser"); err != nil {
		t.Fatal(err)
	}
	if u, err := a.user("diruser", false); err != nil || u.UID != 2901 {
		t.Errorf("user at hand after the answer: %+v, %v", u, err)
	}
}
