package arbiter

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestAcceptQueueRisesAndFalls: workers that hold the listener but never
// accept (workertest "sleep") let connections pile up in the kernel's
// accept queue; listsockets, stats and the snapshot report it with its
// limit, and it drains once a serving watcher on the same socket starts.
func TestAcceptQueueRisesAndFalls(t *testing.T) {
	for _, family := range []string{"tcp", "unix"} {
		t.Run(family, func(t *testing.T) {
			sock := tcpSocket("front")
			if family == "unix" {
				sock = configs.DefaultSocket("front")
				sock.Family, sock.Path = "unix", filepath.Join(t.TempDir(), "front.sock")
			}
			sock.Backlog = 16
			sleeper := testWatcher("sleeper", "sleep", 1)
			sleeper.Sockets = []string{"front"}
			server := testWatcher("server", "serve", 1)
			server.Sockets = []string{"front"}
			server.Autostart = false
			h := start(t, &configs.Config{Sockets: []configs.Socket{sock}, Watchers: []configs.Watcher{sleeper, server}}, Options{})
			h.spawns(1)

			network, addr := "unix", sock.Path
			if family == "tcp" {
				network, addr = "tcp", h.socketAddr("front")
			}
			const waiting = 5
			for i := 0; i < waiting; i++ {
				c, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
			}
			h.waitQueue(waiting, 16)
			stats := h.do("stats", nil)["sockets"].([]map[string]any)
			if len(stats) != 1 || stats[0]["queue"] != waiting || stats[0]["queue_limit"] != 16 || stats[0]["name"] != "front" {
				t.Errorf("stats sockets %v, want front with queue %d of 16", stats, waiting)
			}
			snap, err := h.a.Snapshot(context.Background())
			if err != nil || len(snap.Sockets) != 1 || snap.Sockets[0].Queued != waiting || snap.Sockets[0].QueueLimit != 16 {
				t.Errorf("snapshot sockets %+v (%v)", snap.Sockets, err)
			}

			h.do("start", map[string]any{"name": "server"})
			h.waitQueue(0, 16)
		})
	}
}

// waitQueue waits until listsockets reports the one socket's queue at n
// with the given limit.
func (h *harness) waitQueue(n, limit int) {
	h.t.Helper()
	var last string
	proctest.Eventually(h.t, fmt.Sprintf("accept queue at %d of %d", n, limit), func() bool {
		socks := h.do("listsockets", nil)["sockets"].([]map[string]any)
		last = fmt.Sprint(socks)
		return len(socks) == 1 && socks[0]["queue"] == n && socks[0]["queue_limit"] == limit
	})
	h.t.Logf("listsockets: %s", last)
}

func TestParseUnixDiagRejectsBadReplies(t *testing.T) {
	le := func(b []byte, off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	errReply := make([]byte, 20)
	le(errReply, 0, 20)
	errReply[4] = 2 // NLMSG_ERROR
	le(errReply, 16, uint32(0xFFFFFFFE))
	other := make([]byte, 32)
	le(other, 0, 32)
	other[4] = 20 // SOCK_DIAG_BY_FAMILY
	le(other, 20, 99)
	for name, b := range map[string][]byte{"short": {1, 2}, "errno": errReply, "other inode": other} {
		if _, _, err := parseUnixDiag(b, 7); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
