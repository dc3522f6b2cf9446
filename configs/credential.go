// User and group lookups, and the credential a worker runs with.

package configs

import (
	"errors"
	"fmt"
	"os"
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
// passwd entry: the kernel accepts any id (common in containers); such
// an Account has no Name, and the number as its group.
// Without wait, a name or number that getent must be asked about fails
// with ErrNSSPending (see Accounts).
func lookupUser(s string, wait bool) (Account, error) {
	if err := idRange("uid", s); err != nil {
		return Account{}, err
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		u, ok, err := accounts.Load().userByID(uint32(n), wait)
		if err != nil {
			return Account{}, err
		}
		if ok {
			return u, nil
		}
		return Account{UID: uint32(n), GID: uint32(n)}, nil
	}
	return accounts.Load().user(s, wait)
}

func lookupGroup(s string, wait bool) (uint32, error) {
	if err := idRange("gid", s); err != nil {
		return 0, err
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return uint32(n), nil
	}
	return accounts.Load().groupID(s, wait)
}

// Credential resolves UID and GID for os/exec's SysProcAttr.Credential:
// nil when both are empty (workers run as poold). With only UID the gid is
// the user's primary group; with UID the supplementary groups are those
// initgroups(3) gives (initGroups), never poold's own; with only GID the
// uid is poold's and so are the supplementary groups. A poold that may not
// change users (not root, without CAP_SETUID and CAP_SETGID) runs a worker
// whose uid and gid are its own as itself (nil), and refuses any other.
// Load checks only that an id given
// as a number is valid: whether a name exists is a fact of the machine,
// looked up here at each spawn (and by launch.Check), since users vanish.
func (w Watcher) Credential() (*syscall.Credential, error) { return w.credential(true) }

// CredentialAtHand is Credential for the arbiter's loop, which must not
// wait for getent (an LDAP server that does not answer would hold every
// command up to getentTimeout): it fails with an error that wraps
// ErrNSSPending when a user or group name is neither in the files nor
// among the NSS answers kept. Credential, run off the loop, asks getent
// and keeps its answers; CredentialAtHand then finds them.
func (w Watcher) CredentialAtHand() (*syscall.Credential, error) { return w.credential(false) }

func (w Watcher) credential(wait bool) (*syscall.Credential, error) {
	if w.UID == "" && w.GID == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	var u Account
	if w.UID != "" {
		var err error
		u, err = lookupUser(w.UID, wait)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: uid: %w", w.Name, err)
		}
		cred.Uid, cred.Gid = u.UID, u.GID
	}
	if w.GID != "" {
		gid, err := lookupGroup(w.GID, wait)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: gid: %w", w.Name, err)
		}
		cred.Gid = gid
	}
	if !mayChangeCredential() {
		return w.ownCredential(cred)
	}
	if w.UID != "" {
		gs, err := initGroups(u, cred.Gid, wait)
		if err != nil {
			return nil, fmt.Errorf("configs: watcher %q: uid: groups of %q: %w", w.Name, u.Name, err)
		}
		cred.Groups = gs
	}
	if w.UID == "" {
		cred.NoSetGroups = true
	}
	return cred, nil
}

// mayChangeCredential reports whether poold may give a worker another
// user and groups: only as root. A poold that is not root but holds
// CAP_SETUID and CAP_SETGID (systemd's AmbientCapabilities=) could, but
// its workers would keep those capabilities across the exec (a change
// between two uids that are not root does not clear them, and Go's exec
// cannot drop ambient ones): a worker could setuid(0). And without
// CAP_KILL it could not stop them.
func mayChangeCredential() bool {
	return os.Geteuid() == 0
}

// ownCredential is the credential of a watcher of a poold that may not
// change users: nil (the worker runs as poold, with its groups) when want
// is poold's own uid and gid, as supervisord runs a program whose user is
// its own; else an error naming the key (uid, or gid when the uid is
// poold's) and what to do, rather than a spawn that fails with EPERM.
func (w Watcher) ownCredential(want *syscall.Credential) (*syscall.Credential, error) {
	uid, gid := uint32(os.Geteuid()), uint32(os.Getegid())
	if want.Uid == uid && want.Gid == gid {
		return nil, nil
	}
	key, target, own := "uid", fmt.Sprintf("uid %q (id %d)", w.UID, want.Uid), uid
	switch {
	case want.Uid != uid:
	case w.GID != "":
		key, target, own = "gid", fmt.Sprintf("gid %q (id %d)", w.GID, want.Gid), gid
	default:
		key, target, own = "gid", fmt.Sprintf("gid %d, the primary group of user %q", want.Gid, w.UID), gid
	}
	return nil, fmt.Errorf("configs: watcher %q: %s: %w", w.Name, key,
		fmt.Errorf("poold runs as uid %d gid %d and may not switch a worker to %s (that needs root): run poold as root, or set %s to poold's own (%d) or remove it",
			uid, gid, target, key, own))
}

// LoginEnv is the environment a login gives the watcher's user, as
// login(1) and systemd's User= set it: HOME (its passwd home directory),
// USER, LOGNAME and SHELL (its login shell, when /etc/passwd names one).
// Nil without uid, and for a uid with no passwd entry (or one that no
// longer resolves: the spawn reports that).
func (w Watcher) LoginEnv() []string {
	if w.UID == "" {
		return nil
	}
	u, err := lookupUser(w.UID, true)
	if err != nil || u.Name == "" {
		return nil
	}
	env := []string{"USER=" + u.Name, "LOGNAME=" + u.Name}
	if u.Home != "" {
		env = append(env, "HOME="+u.Home)
	}
	if u.Shell != "" {
		env = append(env, "SHELL="+u.Shell)
	}
	return env
}

// Ownership resolves a unix socket's Owner and Group to ids for chown:
// -1 for one not set (the file keeps poold's).
func (s Socket) Ownership() (uid, gid int, err error) {
	uid, gid = -1, -1
	if s.Owner != "" {
		u, err := lookupUser(s.Owner, true)
		if err != nil {
			return 0, 0, fmt.Errorf("owner: %w", err)
		}
		uid = int(u.UID)
	}
	if s.Group != "" {
		g, err := lookupGroup(s.Group, true)
		if err != nil {
			return 0, 0, fmt.Errorf("group: %w", err)
		}
		gid = int(g)
	}
	return uid, gid, nil
}

// LookupUser resolves a user name (or number) to its uid as a worker's
// uid is resolved: the passwd file, then NSS.
func LookupUser(name string) (uint32, error) {
	u, err := lookupUser(name, true)
	return u.UID, err
}

// LookupGroup resolves a group name (or number) to its gid: the group
// file, then NSS.
func LookupGroup(name string) (uint32, error) {
	return lookupGroup(name, true)
}

// GroupsOfUID lists the groups the user with uid belongs to: its passwd
// primary group and its memberships (none for a uid without a passwd
// entry).
func GroupsOfUID(uid uint32) []uint32 {
	u, ok := accounts.Load().UserByID(uid)
	if !ok {
		return nil
	}
	gs, _ := initGroups(u, u.GID, true)
	return gs
}
