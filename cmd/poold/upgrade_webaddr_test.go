package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// upgradeWebAddrConfig: two workers serving on a fixed port (%[1]s),
// the console on %[2]s and the metrics listener on %[3]s.
const upgradeWebAddrConfig = `
[arbiter]
ENDPOINTS
[web]
enabled = true
address = "%[2]s"
metrics_address = "%[3]s"
[sockets.web]
host = "127.0.0.1"
port = %[1]s
[watchers.web]
cmd = @WORKER@
numprocesses = 2
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
`

// A reload moves web.address or web.metrics_address to an address
// another program holds, then an upgrade applies it: the upgrade is
// refused, nothing changed, naming the key and the address, and the
// workers keep their pids and serve. Once the address is free, the next
// upgrade moves the listener there. (The new image used to fail to bind
// it, after it had taken the workers over, and exit with all of them.)
func TestUpgradeToATakenWebAddressIsRefused(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"web.address", "web.metrics_address"} {
		t.Run(key, func(t *testing.T) {
			work, console, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
			_, port, _ := net.SplitHostPort(work)
			p := startUpgradable(t, fmt.Sprintf(upgradeWebAddrConfig, port, console, metrics))
			proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
			before := p.pids("web")

			holder, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			taken := holder.Addr().String()
			if key == "web.address" {
				console = taken
			} else {
				metrics = taken
			}
			writeConfig(t, p.dir, fmt.Sprintf(upgradeWebAddrConfig, port, console, metrics))
			if r := p.do("reloadconfig", map[string]any{"waiting": true}); r["status"] != "ok" {
				t.Fatalf("reloadconfig: %v", r)
			}

			_, refused := p.upgrade()
			if refused == nil || !contains(reason(refused), "nothing changed", key, taken, "address already in use") {
				t.Fatalf("upgrade to a taken %s: %v; want a refusal, nothing changed, naming %s and %s", key, refused, key, taken)
			}
			p.alive()
			if got := p.pids("web"); !slices.Equal(got, before) {
				t.Errorf("pids %v after the refusal, want %v", got, before)
			}
			workersServe(t, work)

			holder.Close()
			if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
				t.Fatalf("upgrade once %s is free: %v %v", taken, o, refused)
			}
			if got := p.pids("web"); !slices.Equal(got, before) {
				t.Errorf("pids %v after the upgrade, want %v", got, before)
			}
			workersServe(t, work)
			if body, err := get("http://" + taken + "/healthz"); err != nil {
				t.Errorf("%s after the upgrade: %q, %v; want it moved there", taken, body, err)
			}
		})
	}
}

// workersServe fails unless a worker answers on addr.
func workersServe(t *testing.T, addr string) {
	t.Helper()
	if body, err := get("http://" + addr + "/"); err != nil || !strings.HasPrefix(body, "pid=") {
		t.Errorf("workers on %s: %q, %v", addr, body, err)
	}
}

// A reload moves web.metrics_address from 127.0.0.1:P to 0.0.0.0:P, the
// same port on every address, which poold's own listener holds until the
// exec: the upgrade is refused, nothing changed, and the refusal says
// what applies, a restart or another port. It used to add the advice of
// a bind error at start (give a socket or an endpoint another address),
// of which poold has neither there.
func TestUpgradeOntoItsOwnPortSaysRestartOrMove(t *testing.T) {
	t.Parallel()
	work, console, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(work)
	p := startUpgradable(t, fmt.Sprintf(upgradeWebAddrConfig, port, console, metrics))
	proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
	before := p.pids("web")
	_, mport, _ := net.SplitHostPort(metrics)
	every := net.JoinHostPort("0.0.0.0", mport)
	writeConfig(t, p.dir, fmt.Sprintf(upgradeWebAddrConfig, port, console, every))
	if r := p.do("reloadconfig", map[string]any{"waiting": true}); r["status"] != "ok" {
		t.Fatalf("reloadconfig: %v", r)
	}
	_, refused := p.upgrade()
	why := reason(refused)
	if refused == nil || !contains(why, "nothing changed", "web.metrics_address", every, "address already in use",
		"poold's own listener on "+metrics, "restart poold", "another port") {
		t.Fatalf("upgrade onto %s with poold on %s: %v; want a refusal naming both, to restart or move the port", every, metrics, refused)
	}
	for _, wrong := range []string{"give the socket", "once the address is free"} {
		if strings.Contains(why, wrong) {
			t.Errorf("refusal %q: says %q, which does not apply", why, wrong)
		}
	}
	t.Logf("refused: %s", why)
	p.alive()
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v after the refusal, want %v", got, before)
	}
	if body, err := get("http://" + metrics + "/metrics"); err != nil || !strings.Contains(body, "poold_") {
		t.Errorf("metrics on %s after the refusal: %v", metrics, err)
	}
}

// A refused bind ahead is worded with who holds the port, a walk of
// /proc that took 8 to 41 s on a loaded host, on the loop: every command
// waited for it (r67). It runs off the loop now: held there by a test
// hold, poold answers a status meanwhile, and the refusal, once the
// hold ends, says what it said before.
func TestUpgradeRefusalIsWordedOffTheLoop(t *testing.T) {
	t.Parallel()
	work, console, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(work)
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeWebAddrConfig, port, console, metrics), envTestHoldExplain+"="+hold)
	_, mport, _ := net.SplitHostPort(metrics)
	every := net.JoinHostPort("0.0.0.0", mport)
	writeConfig(t, p.dir, fmt.Sprintf(upgradeWebAddrConfig, port, console, every))
	if r := p.do("reloadconfig", map[string]any{"waiting": true}); r["status"] != "ok" {
		t.Fatalf("reloadconfig: %v", r)
	}
	last := p.outcome()["id"].(float64)
	release := holdUpgrade(t, p, hold) // the refusal's wording held
	t.Cleanup(func() { _ = os.WriteFile(hold+".go", nil, 0o644) })
	if r, err := p.try("status", nil); err != nil || r["status"] != "ok" {
		t.Errorf("status while a refused upgrade's bind ahead is being worded: %v %v; want an answer (the loop is free)", r, err)
	}
	release()
	var o map[string]any
	proctest.Eventually(t, "the upgrade's outcome", func() bool {
		r, err := p.try("upgrade_status", nil)
		o, _ = r["upgrade"].(map[string]any)
		return err == nil && o["id"].(float64) > last && o["state"] != "upgrading"
	})
	why, _ := o["reason"].(string)
	if o["state"] != "refused" || !contains(why, "web.metrics_address", every, "address already in use",
		"poold's own listener on "+metrics, "restart poold", "another port") {
		t.Errorf("upgrade onto %s with poold on %s: %v; want refused, naming both, to restart or move the port", every, metrics, o)
	}
}
