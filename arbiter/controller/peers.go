package controller

import (
	"fmt"
	"os"
	"strings"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events/zmqguard"
)

// SetACL sets who may do what on an ipc endpoint (nil: no check beyond
// the socket file's mode). Set before Run to have the guard tag peers;
// afterwards it replaces the rules in force at once (config reload) and
// sets the socket file's mode to match.
func (c *Controller) SetACL(a *ACL) {
	old := c.acl.Swap(a)
	select {
	case <-c.ready:
	default:
		return
	}
	// A uid the new rules refuse loses its quiet connections, as one
	// refused at its handshake does (refusedIdle).
	c.Guard.RecheckIdle()
	if a == nil || old == nil || a.Wide() == old.Wide() {
		return
	}
	if path, ok := strings.CutPrefix(c.bound, "ipc://"); ok && !strings.HasPrefix(path, "@") {
		if err := zmqguard.ChmodSocket(path, socketMode(a)); err != nil {
			c.log.Warn("control socket mode not changed", "path", path, "error", err)
		}
	}
}

// socketMode is 0600 unless the ACL lets others in: then anyone may
// connect and SO_PEERCRED decides.
func socketMode(a *ACL) os.FileMode {
	if a != nil && a.Wide() {
		return 0o666
	}
	return 0o600
}

// peerGuard is c's guard with peer tagging, so each request's identity
// frame leads to the credentials of the connection it came on.
func (c *Controller) peerGuard(a *ACL) *zmqguard.Guard {
	o := c.Guard.Options()
	o.TagPeers = true
	o.SocketMode = socketMode(a)
	o.ConnLimit = c.connLimit
	o.IdleTimeout = c.refusedIdleTimeout
	if o.OnConnLimit == nil {
		o.OnConnLimit = newConnLimitLog(c.log, c.endpoint).note
	}
	return zmqguard.New(o)
}

// caller names the sender of a request for poold's log: its uid, gid,
// pid and program name on an ipc endpoint (poolctl's pid is gone by the
// time anyone reads the log), its address on tcp. The peer is found at
// once (its connection may close); the program's name only when a log
// line needs it.
func (c *Controller) caller(identity string) func() string {
	p, ok := c.Guard.Peer([]byte(identity))
	return func() string {
		if !ok {
			return "a control client on " + c.bound + " whose connection closed"
		}
		if !p.HasCred {
			return p.String()
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p.PID)); err == nil {
			return p.String() + " (" + strings.TrimSpace(string(comm)) + ")"
		}
		return p.String()
	}
}

// refuse answers a request the peer's role does not allow, and logs the
// refusal with the peer's uid and pid. refused=false lets it through, with
// the peer's role (RoleOperator when no rules apply).
func (c *Controller) refuse(identity, raw []byte) (reply []byte, send, refused bool, role arbiter.Role) {
	acl := c.acl.Load()
	if acl == nil || !strings.HasPrefix(c.bound, "ipc://") {
		return nil, false, false, arbiter.RoleOperator
	}
	peer, ok := c.Guard.Peer(identity)
	if !ok {
		// The connection closed meanwhile (nobody to answer), or the
		// guard did not tag it: refuse rather than guess.
		peer = zmqguard.Peer{Network: "unix", Addr: "unknown"}
	}
	req, derr := arbiter.DecodeRequest(raw)
	if derr != nil {
		return nil, false, false, arbiter.RoleNone // the handler answers the error (errno 1 or 3); nothing runs
	}
	ce, role, rule := acl.Check(peer, req.Command)
	if ce == nil {
		return nil, false, false, role
	}
	if !ok {
		// Most likely a client that gave up (a timeout, ^C): not a
		// refusal of anyone in particular, so not a warning naming uid 0.
		c.log.Debug("control request dropped: its connection closed before its sender was checked", "command", req.Command)
	} else if log, suppressed := c.refusals.Allow(fmt.Sprint("uid:", peer.UID)); log {
		// One line a minute per uid, the next saying how many it left
		// out: a refused client in a loop would fill the log.
		c.log.Warn("control request refused", "command", req.Command, "uid", peer.UID, "gid", peer.GID,
			"pid", peer.PID, "role", role.String(), "rule", rule, "suppressed", suppressed)
	}
	reply, send = arbiter.FailReply(raw, ce)
	return reply, send, true, role
}
