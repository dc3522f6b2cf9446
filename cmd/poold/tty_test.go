package main

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const ttyConfig = `
[arbiter]
ENDPOINTS

[watchers.prompt]
cmd = "/bin/sh -c 'echo asking; read answer < /dev/tty && exec sleep 1000; exit 2'"
respawn = false
`

// poold run on a terminal (docker run -t, kubectl run -it, a shell)
// starts its workers without it: a worker that opens /dev/tty (a
// passphrase prompt) fails at once and its end is reported, rather than
// being stopped for good by SIGTTIN, a background process group of
// poold's session, while poold calls it active.
func TestWorkersHaveNoControllingTerminal(t *testing.T) {
	t.Parallel()
	setsid := "/usr/bin/setsid"
	if _, err := os.Stat(setsid); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no setsid (util-linux): %v", err)
		}
		t.Skip("no setsid")
	}
	pts := openPTY(t)
	wrap := []string{"/bin/sh", "-c", `exec "$0" --ctty "$@" < "` + pts + `"`, setsid}
	p := startPooldUnder(t, wrap, t.TempDir(), ttyConfig, nil)
	p.waitLog(`asking`, 1)
	p.waitLog(`worker failed; respawn is off.*reason="exited with status 2"`, 1)
}

// openPTY makes a pseudo-terminal and returns its slave's path; the
// master stays open until the test ends.
func openPTY(t *testing.T) string {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("/dev/pts/%d", n)
}
