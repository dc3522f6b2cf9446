package controller

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events/zmqguard"
)

// refusedConnsPerPeer bounds the connections of a uid that matches no
// access rule: enough to be told why it is refused, too few to hold
// poold's fds. Each is closed once its first request is answered, or
// once it has said nothing for refusedIdle (refusedIdleTimeout).
const refusedConnsPerPeer = 4

// refusedIdle is how long a connection of a uid that matches no access
// rule may say nothing (since its handshake, or since a request answered
// without closing it: a malformed one) before it is closed, so that its
// slots are not held: a client sends its request as soon as it connects.
const refusedIdle = 3 * time.Second

// connLimit is the guard's per-peer bound of completed connections
// (zmqguard.Options.ConnLimit): none for poold's own uid and root (they
// always get in), refusedConnsPerPeer for a uid the rules refuse, the
// guard's MaxConnsPerPeer for anyone else (and for tcp peers).
func (c *Controller) connLimit(p zmqguard.Peer) int {
	if !p.HasCred {
		return 0
	}
	if p.UID == 0 || p.UID == uint32(os.Geteuid()) {
		return -1
	}
	if c.refusedPeer(p) {
		return refusedConnsPerPeer
	}
	return 0
}

// refusedIdleTimeout is the guard's idle bound of completed connections
// (zmqguard.Options.IdleTimeout): refusedIdle for a uid the rules
// refuse, none for anyone else (a CircusClient may keep a quiet
// connection for hours).
func (c *Controller) refusedIdleTimeout(p zmqguard.Peer) time.Duration {
	if c.refusedPeer(p) {
		return refusedIdle
	}
	return 0
}

// refusedPeer tells whether the access rules in force refuse p every
// command (never poold's own uid or root, nor a tcp peer).
func (c *Controller) refusedPeer(p zmqguard.Peer) bool {
	if !p.HasCred || p.UID == 0 || p.UID == uint32(os.Geteuid()) {
		return false
	}
	a := c.acl.Load()
	if a == nil {
		return false
	}
	role, _ := a.RoleOf(p)
	return role == arbiter.RoleNone
}

// connLimitLog logs the connections the guard closes at a bound, at most
// one line per peer a minute, the next one saying how many it left out.
type connLimitLog struct {
	log      hclog.Logger
	endpoint string
	quiet    zmqguard.Throttle
}

func newConnLimitLog(log hclog.Logger, endpoint string) *connLimitLog {
	return &connLimitLog{log: log, endpoint: endpoint}
}

// note is zmqguard.Options.OnConnLimit.
func (l *connLimitLog) note(peer, bound string, limit int) {
	ok, suppressed := l.quiet.Allow(peer)
	if !ok {
		return
	}
	var what string
	switch bound {
	case "total":
		what = "poold holds as many control connections as it takes, and this peer the most; its connection quiet the longest was closed"
	case "budget":
		what = "poold's listeners together hold as many connections as its fd budget allows (half of ulimit -n), and this peer the most of the control endpoint's; its connection quiet the longest was closed"
	case "unread":
		what = "replies queued for clients reached the endpoint's bound (limit in bytes), and this connection, which had taken no byte of its replies for a second, held the most of those; it was closed"
	default:
		what = "this peer holds its share of connections; its connection quiet the longest was closed"
	}
	l.log.Warn("control connection closed to make room: "+what+". "+
		"If this peer is not a poolctl or Circus client you run, find what holds them (ss -xp, or ss -tnp for tcp)",
		"endpoint", l.endpoint, "peer", peer, "bound", bound, "limit", limit, "suppressed", suppressed)
}

// ControlConns is how many connections the endpoint holds, and the
// peers holding the most ("uid:1002 3900, uid:0 2"), for
// arbiter.Options.ControlConns.
func (c *Controller) ControlConns() (int, string) {
	select {
	case <-c.ready: // Run has set c.Guard
	default:
		return 0, ""
	}
	by := c.Guard.Stats().ConnsByPeer
	peers := make([]string, 0, len(by))
	n := 0
	for p, k := range by {
		peers = append(peers, p)
		n += k
	}
	sort.Slice(peers, func(i, j int) bool {
		if by[peers[i]] != by[peers[j]] {
			return by[peers[i]] > by[peers[j]]
		}
		return peers[i] < peers[j]
	})
	var b strings.Builder
	for i, p := range peers {
		if i == 3 {
			fmt.Fprintf(&b, ", %d more peers", len(peers)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", p, by[p])
	}
	return n, b.String()
}
