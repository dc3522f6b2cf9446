package controller

import (
	"fmt"
	"os"
	"strconv"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events/zmqguard"
)

// ACL decides what a local peer may do on an ipc control endpoint, from
// its SO_PEERCRED credentials (arbiter.control_allow and
// arbiter.control_read_only). poold's own uid and root are always
// operators: either can read poold's memory or signal it anyway.
//
// Group rules match the peer's primary gid (from the kernel) or its
// user's supplementary groups (from the group database at the time of
// the request). An ACL is immutable.
type ACL struct {
	operators []configs.ControlRule
	readOnly  []configs.ControlRule
	self      uint32
}

// NewACL parses the two rule lists (configs.ParseControlRule).
func NewACL(allow, readOnly []string) (*ACL, error) {
	ops, err := configs.ControlRules(allow)
	if err != nil {
		return nil, fmt.Errorf("arbiter.control_allow: %w", err)
	}
	ro, err := configs.ControlRules(readOnly)
	if err != nil {
		return nil, fmt.Errorf("arbiter.control_read_only: %w", err)
	}
	return &ACL{operators: ops, readOnly: ro, self: uint32(os.Getuid())}, nil
}

// Unknown lists why each rule whose user or group name did not resolve
// matches nobody (configs.ControlRule.Unknown).
func (a *ACL) Unknown() []string {
	var out []string
	for _, l := range [][]configs.ControlRule{a.operators, a.readOnly} {
		for _, r := range l {
			if r.Unknown != "" {
				out = append(out, r.Unknown)
			}
		}
	}
	return out
}

// Wide reports whether the ACL lets in anyone besides poold's uid and
// root, so the socket file must be connectable by others (mode 0666;
// SO_PEERCRED then decides).
func (a *ACL) Wide() bool {
	for _, l := range [][]configs.ControlRule{a.operators, a.readOnly} {
		for _, r := range l {
			if r.Unknown == "" && (r.Kind != "uid" || (r.ID != 0 && r.ID != a.self)) {
				return true
			}
		}
	}
	return false
}

// RoleOf returns the peer's role and the rule that gave it ("" for the
// built-in uids).
func (a *ACL) RoleOf(p zmqguard.Peer) (arbiter.Role, string) {
	if !p.HasCred {
		return arbiter.RoleNone, ""
	}
	if p.UID == 0 || p.UID == a.self {
		return arbiter.RoleOperator, ""
	}
	var groups []uint32
	loaded := false
	match := func(rs []configs.ControlRule) (string, bool) {
		for _, r := range rs {
			if r.Kind == "group" && !loaded {
				groups, loaded = supplementaryGroups(p.UID), true
			}
			if r.Matches(p.UID, p.GID, groups) {
				return r.Text, true
			}
		}
		return "", false
	}
	if rule, ok := match(a.operators); ok {
		return arbiter.RoleOperator, "arbiter.control_allow " + strconv.Quote(rule)
	}
	if rule, ok := match(a.readOnly); ok {
		return arbiter.RoleReadOnly, "arbiter.control_read_only " + strconv.Quote(rule)
	}
	return arbiter.RoleNone, ""
}

// Check returns nil if p may run command, else the error reply to send,
// naming the rule that decided.
func (a *ACL) Check(p zmqguard.Peer, command string) (*arbiter.CommandError, arbiter.Role, string) {
	role, rule := a.RoleOf(p)
	if role.Allows(command) {
		return nil, role, rule
	}
	who := fmt.Sprintf("uid %d (pid %d)", p.UID, p.PID)
	if !p.HasCred {
		who = "a peer without credentials (" + p.String() + ")"
	}
	var reason string
	if role == arbiter.RoleReadOnly {
		reason = fmt.Sprintf("permission denied: %q needs an operator; %s is read-only by %s; add it to arbiter.control_allow to allow it",
			command, who, rule)
	} else {
		reason = fmt.Sprintf("permission denied: %s matches no rule of arbiter.control_allow or arbiter.control_read_only (poold's own uid and root are always allowed); add \"uid:%d\" or a user: or group: rule",
			who, p.UID)
	}
	return &arbiter.CommandError{Errno: arbiter.ErrnoForbidden, Reason: reason}, role, rule
}

// supplementaryGroups lists the gids the user database gives uid (the
// files, then NSS).
func supplementaryGroups(uid uint32) []uint32 {
	return configs.GroupsOfUID(uid)
}
