package configs

import (
	"errors"
	"fmt"
	"slices"
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
	// Unknown, when set, says why the rule's user or group name did not
	// resolve (deleted since poold started, or a typo): the rule then
	// matches nobody. ControlProblems reports such rules.
	Unknown string
}

// Matches reports whether a peer with uid and primary gid falls under r;
// groups lists the peer's supplementary gids (may be nil).
func (r ControlRule) Matches(uid, gid uint32, groups []uint32) bool {
	switch {
	case r.Unknown != "":
		return false
	case r.Kind == "uid":
		return uid == r.ID
	case gid == r.ID:
		return true
	}
	return slices.Contains(groups, r.ID)
}

// splitControlRule checks a rule's form: its kind, and a number where
// the kind wants one. It looks nothing up.
func splitControlRule(s string) (kind, v string, err error) {
	kind, v, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || v == "" {
		return "", "", fmt.Errorf(`%q: want "uid:N", "user:NAME", "gid:N" or "group:NAME"`, s)
	}
	switch kind {
	case "uid", "gid":
		if _, err := strconv.ParseUint(v, 10, 32); err != nil {
			return "", "", fmt.Errorf("%q: %s must be a number", s, kind)
		}
	case "user", "group":
	default:
		return "", "", fmt.Errorf(`%q: unknown kind %q; want "uid:N", "user:NAME", "gid:N" or "group:NAME"`, s, kind)
	}
	return kind, v, nil
}

// ParseControlRule reads "uid:N", "user:NAME", "gid:N" or "group:NAME",
// resolving names with the system's user and group databases. Only a
// malformed rule is an error: a name that does not resolve gives a rule
// that matches nobody, with Unknown saying why, so that a user deleted
// under a running poold narrows its rules rather than stopping them all.
func ParseControlRule(s string) (ControlRule, error) {
	kind, v, err := splitControlRule(s)
	if err != nil {
		return ControlRule{}, err
	}
	r := ControlRule{Text: s, Kind: "uid"}
	if kind == "gid" || kind == "group" {
		r.Kind = "group"
	}
	var id string
	switch kind {
	case "uid", "gid":
		id = v
	case "user":
		u, err := accounts.Load().User(v)
		if err != nil {
			r.Unknown = fmt.Sprintf("%q: no such user (%s); create it or use uid:N", s, noSuchWhere(err))
			return r, nil
		}
		id = strconv.FormatUint(uint64(u.UID), 10)
	case "group":
		g, err := accounts.Load().Group(v)
		if err != nil {
			r.Unknown = fmt.Sprintf("%q: no such group (%s); create it or use gid:N", s, noSuchWhere(err))
			return r, nil
		}
		id = strconv.FormatUint(uint64(g), 10)
	}
	n, _ := strconv.ParseUint(id, 10, 32)
	r.ID = uint32(n)
	return r, nil
}

// ControlRules parses a list of rules; the error names the first
// malformed one.
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

// ControlProblems reports the control rules of a whose user or group does
// not exist on this machine, as an *Error for file; nil when there are
// none. poold --check and a start report them, and so does a reload that
// changes the rules; a reload that leaves them as they are applies them,
// the unknown ones matching nobody (see ParseControlRule).
func ControlProblems(file string, a Arbiter) error {
	ps := &problems{}
	for _, k := range controlKeys(&a) {
		for _, s := range k.list {
			if r, err := ParseControlRule(s); err == nil && r.Unknown != "" {
				ps.add(k.key, "%s", r.Unknown)
			}
		}
	}
	return ps.err(file)
}

type controlKey struct {
	key  string
	list []string
}

func controlKeys(a *Arbiter) []controlKey {
	return []controlKey{{"arbiter.control_allow", a.ControlAllow}, {"arbiter.control_read_only", a.ControlReadOnly}}
}

func validateControl(ps *problems, a *Arbiter) {
	for _, k := range controlKeys(a) {
		if len(k.list) > 0 && !strings.HasPrefix(a.Endpoint, "ipc://") {
			// Only a unix socket tells who the peer is; on tcp the rules
			// would be ignored and every local user would be an operator.
			ps.add(k.key, "applies only to an ipc:// control endpoint (the kernel names the peer there), but arbiter.endpoint is %q; use an ipc:// endpoint, or drop the rules", a.Endpoint)
			continue
		}
		for _, s := range k.list {
			if _, _, err := splitControlRule(s); err != nil {
				ps.add(k.key, "%v", err)
			}
		}
	}
}

// noSuchWhere is where a name a rule names was looked for in vain (err
// from the user database), without its advice, which the rule's own
// replaces.
func noSuchWhere(err error) string {
	var ns *NoSuchError
	if errors.As(err, &ns) {
		return ns.Where
	}
	return err.Error()
}
