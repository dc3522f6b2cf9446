package arbiter

// ErrnoForbidden is poold's own errno (Circus has none for it): the
// caller may not run this command (arbiter.control_allow, API tokens).
const ErrnoForbidden = 7

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
func ReadOnly(command string) bool { return readOnly[command] }
