package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// A helper a wrapper started before it exec'd poold is not poold's to
// stop at its exit; after an upgrade it was (the new image did not know
// poold's first children) and poold's exit SIGTERMed it (r47c order
// review). The list goes over in the upgrade state.
func TestUpgradeKeepsTheWrappersHelpers(t *testing.T) {
	t.Parallel()
	p := newUpProc(t, "", fmt.Sprintf(upgradeConfig, 1))
	p.install(pooldBinary(t))
	pidfile := filepath.Join(p.dir, "helper.pid")
	p.wrap = `setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > ` + pidfile + `; `
	p.start()
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	helper, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(helper, syscall.SIGKILL) })
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(hang):
		t.Fatalf("poold still runs %v after SIGTERM", hang)
	}
	if !proctest.Alive(helper) {
		t.Fatalf("the wrapper's helper (pid %d) was stopped at poold's exit after an upgrade; log:\n%s", helper, p.log.String())
	}
}
