package arbiter

import (
	"context"

	"github.com/poold/poold/arbiter/wire"
)

// Role is what a control client may do.
type Role int

const (
	// RoleNone may run nothing.
	RoleNone Role = iota
	// RoleReadOnly may run the commands that change nothing (ReadOnly).
	RoleReadOnly
	// RoleOperator may run every command.
	RoleOperator
)

func (r Role) String() string {
	switch r {
	case RoleReadOnly:
		return "read-only"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// Allows reports whether r may run command.
func (r Role) Allows(command string) bool {
	return r == RoleOperator || (r == RoleReadOnly && ReadOnly(command))
}

// ReadOnly reports whether command changes nothing on poold (list,
// status, stats, get, options, listsockets, events_since, ...).
func ReadOnly(command string) bool { return wire.ReadOnly(command) }

type roleKey struct{}

// WithRole returns ctx carrying the caller's role, for Do and Handle: a
// read-only caller runs the same commands as anyone, but the replies
// withhold what would hand it an operator's secrets (Withheld). Without
// a role the caller is poold itself or its owner, an operator.
func WithRole(ctx context.Context, r Role) context.Context {
	return context.WithValue(ctx, roleKey{}, r)
}

// RoleFrom is the role WithRole gave ctx, RoleOperator without one.
func RoleFrom(ctx context.Context) Role {
	if r, ok := ctx.Value(roleKey{}).(Role); ok {
		return r
	}
	return RoleOperator
}

// Withheld stands for each env value in the options and get replies to
// a read-only caller (a read-only API token, a read_only console,
// arbiter.control_read_only): env is where passwords and API keys go,
// and a read-only role is for watching, not for reading them. The keys
// stay, so the caller still sees which variables are set.
const Withheld = "(withheld from a read-only caller)"

// withholdEnv replaces each value of opts' env (Circus-shaped: a map)
// with Withheld.
func withholdEnv(opts map[string]any) {
	env, ok := opts["env"].(map[string]any)
	if !ok {
		return
	}
	hidden := make(map[string]any, len(env))
	for k := range env {
		hidden[k] = Withheld
	}
	opts["env"] = hidden
}
