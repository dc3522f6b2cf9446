package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// runnerScript is a job runner as Celery, RQ and Dramatiq stop: the first
// SIGTERM is a warm shutdown (it finishes its job), the second a cold one
// (it gives the job up, says so and exits 1). With COLD=ignore it sits
// out the cold one too, as a runner stuck in a job would.
const runnerScript = `#!/bin/sh
n=0
trap 'n=$((n+1)); if [ $n = 1 ]; then echo warm >> "$LEDGER"; elif [ "$COLD" = ignore ]; then echo cold-ignored >> "$LEDGER"; else echo cold >> "$LEDGER"; exit 1; fi' TERM
echo up >> "$LEDGER"
while :; do sleep 0.05; done
`

func startRunner(t *testing.T, cold string) (*proc, string) {
	t.Helper()
	dir := t.TempDir()
	script, ledger := filepath.Join(dir, "runner.sh"), filepath.Join(dir, "ledger")
	if err := os.WriteFile(script, []byte(runnerScript), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startPoold(t, "[arbiter]\nENDPOINTS\n[watchers.jobs]\ncmd = \"/bin/sh "+script+"\"\n"+
		"stop_children = false\ngraceful_timeout = \"120s\"\nenv = [\"LEDGER="+ledger+"\", \"COLD="+cold+"\"]\n")
	waitLedger(t, ledger, "up")
	return p, ledger
}

func waitLedger(t *testing.T, ledger, line string) {
	t.Helper()
	proctest.Eventually(t, "the runner writes "+line, func() bool {
		b, _ := os.ReadFile(ledger)
		return strings.Contains(string(b), line+"\n")
	})
}

// TestSecondStopSignalIsAColdShutdown: poold's second SIGTERM SIGKILLed
// every worker, so a job runner mid-job never ran its cold shutdown (it
// neither requeued nor recorded the job it lost: r60 celery trial). The
// second is now passed on to the workers being stopped, and the runner
// ends of its cold shutdown, well before its graceful_timeout.
func TestSecondStopSignalIsAColdShutdown(t *testing.T) {
	t.Parallel()
	p, ledger := startRunner(t, "")
	p.signal(syscall.SIGTERM)
	waitLedger(t, ledger, "warm")
	p.signal(syscall.SIGTERM)
	waitLedger(t, ledger, "cold") // SIGKILLed before the fix: no such line
	p.waitLog(`second stop request: passed the signal on to every worker being stopped[^\n]*signal=TERM workers=1`, 1)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestThirdStopSignalKills: a runner that sits out the second signal too
// is SIGKILLed at the third, and poold exits 0, as the second did before.
func TestThirdStopSignalKills(t *testing.T) {
	t.Parallel()
	p, ledger := startRunner(t, "ignore")
	p.signal(syscall.SIGTERM)
	waitLedger(t, ledger, "warm")
	p.signal(syscall.SIGTERM)
	waitLedger(t, ledger, "cold-ignored")
	p.signal(syscall.SIGTERM)
	p.waitLog(`third stop request: killing every worker now`, 1)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
