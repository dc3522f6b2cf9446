// User and group lookups, and the credential a worker runs with.

package configs

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// maxID is the largest valid uid/gid ((uid_t)-1 is reserved).
const maxID = 1<<32 - 2

// idRange refuses a uid or gid (kind) given as a number that is no
// valid id; a name, or "", passes: whether it exists is looked up later.
func idRange(kind, s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err == nil && n <= maxID || err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil
	}
	return fmt.Errorf("%s %s is out of range: ids go from 0 to %d; use a smaller number or a name", kind, s, uint64(maxID))
}

// lookupUser resolves a user name or number. A number need not have a
// passwd entry: the kernel accepts any id (common in containers).
func lookupUser(s string) (*user.User, error) {
	if err := idRange("uid", s); err != nil {
		return nil, err
	}
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		if u, err := user.LookupId(s); err == nil {
			return u, nil
		}
		return &user.User{Uid: s, Gid: s}, nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return nil, fmt.Errorf("no user %q on this machine: use an existing user name or a number", s)
	}
	return u, nil
}

func lookupGroup(s string) (uint32, error) {
	if err := idRange("gid", s); err != nil {
		return 0, err
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("no group %q on this machine: use an existing group name or a number", s)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has a non-numeric id %q", s, g.Gid)
	}
	return uint32(n), nil
}

// Credential resolves UID and GID for os/exec's SysProcAttr.Credential:
// nil when both are empty (workers run as poold). With only UID the gid is
// the user's primary group; with UID the supplementary groups are those
// initgroups(3) gives (initGroups), never poold's own; with only GID the
// uid is poold's and so are the supplementary groups. Load checks only that an id given
// as a number is valid: whether a name exists is a fact of the machine,
// looked up here at each spawn (and by launch.Check), since users vanish.
func (w Watcher) Credential() (*syscall.Credential, error) {
	if w.UID == "" && w.GID == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	var u *user.User
	if w.UID != "" {
		var err error
		u, err = lookupUser(w.UID)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: uid: %w", w.Name, err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if w.GID != "" {
		gid, err := lookupGroup(w.GID)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: gid: %w", w.Name, err)
		}
		cred.Gid = gid
	}
	if w.UID != "" {
		cred.Groups = initGroups(u, cred.Gid)
	}
	if w.UID == "" {
		cred.NoSetGroups = true
	}
	return cred, nil
}
