package configs

import (
	"fmt"
	"os/user"
	"strconv"
	"strings"
)

// ControlRule is one entry of arbiter.control_allow or
// arbiter.control_read_only: who may use the ipc control endpoint,
// checked against the peer's SO_PEERCRED credentials.
type ControlRule struct {
	Text string // as written: "uid:1000", "user:deploy", "group:ops"
	Kind string // "uid" or "group"
	ID   uint32 // the uid, or the gid of the group
}

// Matches reports whether a peer with uid and primary gid falls under r;
// groups lists the peer's supplementary gids (may be nil).
func (r ControlRule) Matches(uid, gid uint32, groups []uint32) bool {
	if r.Kind == "uid" {
		return uid == r.ID
	}
	if gid == r.ID {
		return true
	}
	for _, g := range groups {
		if g == r.ID {
			return true
		}
	}
	return false
}

// ParseControlRule reads "uid:N", "user:NAME", "gid:N" or "group:NAME",
// resolving names with the system's user and group databases.
func ParseControlRule(s string) (ControlRule, error) {
	kind, v, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || v == "" {
		return ControlRule{}, fmt.Errorf(`%q: want "uid:N", "user:NAME", "gid:N" or "group:NAME"`, s)
	}
	r := ControlRule{Text: s}
	switch kind {
	case "uid", "gid":
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return ControlRule{}, fmt.Errorf("%q: %s must be a number", s, kind)
		}
		r.Kind, r.ID = map[string]string{"uid": "uid", "gid": "group"}[kind], uint32(n)
	case "user":
		u, err := user.Lookup(v)
		if err != nil {
			return ControlRule{}, fmt.Errorf("%q: no such user (%v); create it or use uid:N", s, err)
		}
		n, _ := strconv.ParseUint(u.Uid, 10, 32)
		r.Kind, r.ID = "uid", uint32(n)
	case "group":
		g, err := user.LookupGroup(v)
		if err != nil {
			return ControlRule{}, fmt.Errorf("%q: no such group (%v); create it or use gid:N", s, err)
		}
		n, _ := strconv.ParseUint(g.Gid, 10, 32)
		r.Kind, r.ID = "group", uint32(n)
	default:
		return ControlRule{}, fmt.Errorf(`%q: unknown kind %q; want "uid:N", "user:NAME", "gid:N" or "group:NAME"`, s, kind)
	}
	return r, nil
}

// ControlRules parses a list of rules; the error names the first bad one.
func ControlRules(list []string) ([]ControlRule, error) {
	out := make([]ControlRule, 0, len(list))
	for _, s := range list {
		r, err := ParseControlRule(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func validateControl(ps *problems, a *Arbiter) {
	for _, k := range []struct {
		key  string
		list []string
	}{{"arbiter.control_allow", a.ControlAllow}, {"arbiter.control_read_only", a.ControlReadOnly}} {
		if len(k.list) > 0 && !strings.HasPrefix(a.Endpoint, "ipc://") {
			// Only a unix socket tells who the peer is; on tcp the rules
			// would be ignored and every local user would be an operator.
			ps.add(k.key, "applies only to an ipc:// control endpoint (the kernel names the peer there), but arbiter.endpoint is %q; use an ipc:// endpoint, or drop the rules", a.Endpoint)
			continue
		}
		for _, s := range k.list {
			if _, err := ParseControlRule(s); err != nil {
				ps.add(k.key, "%v", err)
			}
		}
	}
}
