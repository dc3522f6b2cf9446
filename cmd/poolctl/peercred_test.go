package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// asUser runs the poolctl binary as uid:gid (no supplementary groups but
// extra) through setpriv, and returns its exit status and output.
func asUser(t *testing.T, p *poold, uid, gid string, groups string, args ...string) result {
	t.Helper()
	bin := binaries(t)
	// The binaries and the socket's directory must be reachable by uid.
	for _, d := range []string{bin, p.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sp := []string{"--reuid=" + uid, "--regid=" + gid}
	if groups == "" {
		sp = append(sp, "--clear-groups")
	} else {
		sp = append(sp, "--groups="+groups)
	}
	sp = append(sp, filepath.Join(bin, "poolctl"), "--endpoint", p.control)
	cmd := exec.Command("setpriv", append(sp, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("setpriv: %v", err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestPeerCredReadOnly(t *testing.T) {
	p := startPooldWith(t, pooldConf{arbiter: `control_read_only = ["user:nobody"]`})
	p.waitPids(t, 2)

	if r := asUser(t, p, "65534", "65534", "", "status", "web"); r.code != 0 || r.stdout != "active\n" {
		t.Fatalf("nobody, read-only, status web: %v", r)
	}
	r := asUser(t, p, "65534", "65534", "", "incr", "web")
	if r.code != 1 || !strings.Contains(r.stderr, `permission denied: "incr" needs an operator`) ||
		!strings.Contains(r.stderr, `arbiter.control_read_only "user:nobody"`) {
		t.Fatalf("nobody, read-only, incr web: want exit 1 naming the rule, got %v", r)
	}
	if n := p.ctl(t, "numprocesses", "web").stdout; n != "2\n" {
		t.Fatalf("a refused incr ran: numprocesses %q", n)
	}
	// The event socket stays poold's user's: the refusal says so, and
	// where else events are served, not to try another endpoint.
	if r := asUser(t, p, "65534", "65534", "", "events", "--since", "0"); r.code != 3 ||
		!strings.Contains(r.stderr, "open to poold's user only") || strings.Contains(r.stderr, "set --pubsub-endpoint") {
		t.Fatalf("nobody, read-only, events: want exit 3 saying the socket is poold's user's, got %v", r)
	}
	if !proctest.Poll(5*time.Second, func() bool {
		l := p.log()
		return strings.Contains(l, "control request refused") && strings.Contains(l, "uid=65534") && strings.Contains(l, "pid=")
	}) {
		t.Fatalf("no refusal with uid and pid in poold's log:\n%s", p.log())
	}
	// Root (this test) is an operator by default.
	p.ctl(t, "incr", "web")
	p.waitPids(t, 3)
}

func TestPeerCredDefaultRefusesOthers(t *testing.T) {
	p := startPoold(t)
	// The socket stays 0600 with the default rules: another uid is
	// refused by the file system before SO_PEERCRED.
	sock := strings.TrimPrefix(p.control, "ipc://")
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode: %v %v, want 0600", fi.Mode(), err)
	}
	if r := asUser(t, p, "65534", "65534", "", "status"); r.code != 3 || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("nobody with default rules: want exit 3 permission denied, got %v", r)
	}
}

func TestPeerCredNoRule(t *testing.T) {
	// Another uid is let in by file mode (a rule for a group) but
	// matches none: refused even read-only, naming what to add.
	// A group of this test process's own: two checkouts testing at once
	// (or a run killed before its cleanup) do not share one.
	group := fmt.Sprintf("pooldtest%d", os.Getpid())
	groupadd(t, group)
	p := startPooldWith(t, pooldConf{arbiter: fmt.Sprintf(`control_allow = ["group:%s"]`, group)})
	r := asUser(t, p, "65534", "65534", "", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "matches no rule of arbiter.control_allow") || !strings.Contains(r.stderr, `"uid:65534"`) {
		t.Fatalf("nobody without a rule: %v", r)
	}
	// The same uid in the group (primary gid) is an operator.
	gid := lookupGID(t, group)
	if r := asUser(t, p, "65534", gid, "", "incr", "web"); r.code != 0 {
		t.Fatalf("nobody in group %s, incr: %v", group, r)
	}
	p.waitPids(t, 3)
}

func groupadd(t *testing.T, name string) {
	t.Helper()
	_ = exec.Command("groupdel", name).Run() // left by a killed run of this pid
	if b, err := exec.Command("groupadd", name).CombinedOutput(); err != nil {
		t.Fatalf("groupadd %s: %v %s", name, err, b)
	}
	t.Cleanup(func() { _ = exec.Command("groupdel", name).Run() })
}

func lookupGID(t *testing.T, name string) string {
	t.Helper()
	b, err := exec.Command("getent", "group", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(b), ":")[2]
}
