// The user and group database a worker's credential comes from.

package configs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Account is a user as the passwd database gives it.
type Account struct {
	Name        string
	UID, GID    uint32
	Home, Shell string
	nss         bool // found through getent, not in the passwd file
}

// Accounts looks up users and groups as glibc's "files" then NSS would,
// without cgo: the passwd and group files, parsed once per change of
// either (inode, size, mtime: a start of a worker costs two stats, not a
// parse), and for a name they lack (a directory user from LDAP or SSSD)
// the getent command, whose answers are kept for nssTTL.
//
// Concurrency: safe for concurrent use. A getent run holds no lock: a
// lookup the files or the kept answers serve never waits for one, and a
// lookup of a key getent is being asked for waits for that run rather
// than start another. The lookups made with wait false (the arbiter's
// loop: Watcher.CredentialAtHand) never run getent: they fail with
// ErrNSSPending instead, and the caller asks off the loop.
type Accounts struct {
	passwd, group string
	// getent runs "getent DATABASE KEY" and returns its output; nil
	// output and nil error when the key is not found (exit status 2).
	getent func(ctx context.Context, args ...string) ([]byte, error)
	now    func() time.Time

	mu    sync.Mutex
	sig   [2]fileSig
	files *accountFiles
	nss   map[string]nssAnswer
	// asking holds a channel per key getent is being asked for, closed
	// once its answer is kept.
	asking map[string]chan struct{}
}

// ErrNSSPending is the error of a lookup made without waiting (the
// arbiter's loop) that needs getent's answer and has none at hand (none
// kept, or one older than nssTTL): the caller asks again off the loop
// (Watcher.Credential), then retries.
var ErrNSSPending = errors.New("the user database (NSS, through getent) is being asked; the start waits for its answer")

// nssTTL is how long a getent answer (found or not) is kept: a user
// removed from the directory fails starts after this long at most.
const nssTTL = 30 * time.Second

// getentTimeout bounds one getent run (an unreachable LDAP server).
const getentTimeout = 5 * time.Second

type fileSig struct {
	dev, ino    uint64
	size, mtime int64
	ok          bool
}

type accountFiles struct {
	users   map[string]Account
	byUID   map[uint32]Account
	groups  map[string]uint32
	members map[string][]uint32 // user name -> gids of the groups that list it
}

type nssAnswer struct {
	out   []byte
	err   error
	until time.Time
}

// NewAccounts reads users from the passwd and group files at the given
// paths, falling back to the getent command named getent (found in PATH,
// else as given) on a miss; getent "" disables the fallback.
func NewAccounts(passwd, group, getent string) *Accounts {
	a := &Accounts{passwd: passwd, group: group, now: time.Now}
	if getent != "" {
		a.getent = func(ctx context.Context, args ...string) ([]byte, error) {
			return runGetent(ctx, getent, args...)
		}
	}
	return a
}

// runGetent runs getent (from PATH, else the name as a path).
func runGetent(ctx context.Context, name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath("getent")
	if err != nil {
		path = name
	}
	out, err := exec.CommandContext(ctx, path, args...).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 {
		return nil, nil // not found
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s %s: no answer within %v", path, strings.Join(args, " "), getentTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return out, nil
}

var accounts atomic.Pointer[Accounts]

func init() { accounts.Store(NewAccounts("/etc/passwd", "/etc/group", "/usr/bin/getent")) }

// UseAccounts makes a the database Credential, LoginEnv and the control
// rules read (tests: a passwd file of their own); restore puts the one
// before back.
func UseAccounts(a *Accounts) (restore func()) {
	old := accounts.Swap(a)
	return func() { accounts.Store(old) }
}

// User looks a user up by name: the passwd file, then NSS.
func (a *Accounts) User(name string) (Account, error) { return a.user(name, true) }

// user is User; without wait, a name NSS must be asked for fails with
// ErrNSSPending rather than run getent.
func (a *Accounts) user(name string, wait bool) (Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.load().users[name]; ok {
		return u, nil
	}
	out, err := a.ask("passwd", name, wait)
	if errors.Is(err, ErrNSSPending) {
		return Account{}, err
	}
	if u, ok := parsePasswdLine(strings.TrimSpace(string(out))); ok && u.Name == name {
		u.nss = true
		return u, nil
	}
	return Account{}, a.missing("user", name, a.passwd, err)
}

// UserByID looks a user up by uid: the passwd file, then NSS.
func (a *Accounts) UserByID(uid uint32) (Account, bool) {
	u, ok, _ := a.userByID(uid, true)
	return u, ok
}

// userByID is UserByID; without wait, a uid NSS must be asked for fails
// with ErrNSSPending rather than run getent.
func (a *Accounts) userByID(uid uint32, wait bool) (Account, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.load().byUID[uid]; ok {
		return u, true, nil
	}
	out, err := a.ask("passwd", strconv.FormatUint(uint64(uid), 10), wait)
	if errors.Is(err, ErrNSSPending) {
		return Account{}, false, err
	}
	u, ok := parsePasswdLine(strings.TrimSpace(string(out)))
	u.nss = true
	return u, ok && u.UID == uid, nil
}

// Group looks a group up by name: the group file, then NSS.
func (a *Accounts) Group(name string) (uint32, error) { return a.groupID(name, true) }

// groupID is Group; without wait, a name NSS must be asked for fails
// with ErrNSSPending rather than run getent.
func (a *Accounts) groupID(name string, wait bool) (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if g, ok := a.load().groups[name]; ok {
		return g, nil
	}
	out, err := a.ask("group", name, wait)
	if errors.Is(err, ErrNSSPending) {
		return 0, err
	}
	if f := strings.Split(strings.TrimSpace(string(out)), ":"); len(f) >= 3 && f[0] == name {
		if n, perr := strconv.ParseUint(f[2], 10, 32); perr == nil {
			return uint32(n), nil
		}
	}
	return 0, a.missing("group", name, a.group, err)
}

// Groups lists the groups u is a member of besides its passwd primary
// group (unless a group also lists it), as initgroups(3) finds them: the
// group file for a user of the passwd file, NSS ("getent initgroups")
// for one NSS gave. Each gid once; the caller must not change the slice.
func (a *Accounts) Groups(u Account) []uint32 {
	gs, _ := a.groups(u, true)
	return gs
}

// groups is Groups; without wait, a user NSS must be asked about fails
// with ErrNSSPending rather than run getent.
func (a *Accounts) groups(u Account, wait bool) ([]uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !u.nss {
		return a.load().members[u.Name], nil
	}
	out, err := a.ask("initgroups", u.Name, wait)
	if errors.Is(err, ErrNSSPending) {
		return nil, err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 || f[0] != u.Name {
		return nil, nil
	}
	gids := make([]uint32, 0, len(f)-1)
	for _, s := range f[1:] {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil && !containsID(gids, uint32(n)) {
			gids = append(gids, uint32(n))
		}
	}
	return gids, nil
}

// missing is the error for a name (kind "user" or "group") neither the
// file nor NSS knows; nssErr is why NSS could not be asked, if it failed.
func (a *Accounts) missing(kind, name, file string, nssErr error) error {
	e := &NoSuchError{Kind: kind, Name: name, Where: "not in " + file + ", nor known to NSS through getent"}
	switch {
	case a.getent == nil:
		e.Where = "not in " + file + "; NSS is not asked"
	case nssErr != nil:
		e.Where = fmt.Sprintf("not in %s, and NSS could not be asked: %v", file, nssErr)
	}
	return e
}

// NoSuchError is a user or group name the files and NSS lack.
type NoSuchError struct {
	Kind, Name string // "user" or "group", and the name looked up
	Where      string // where it was looked for
}

func (e *NoSuchError) Error() string {
	return fmt.Sprintf("no %s %q on this machine (%s): use an existing %s name or a number", e.Kind, e.Name, e.Where, e.Kind)
}

// ask runs getent for database and key, or gives the answer kept from a
// run less than nssTTL ago. Called with a.mu held, which it lets go
// while getent runs (and takes again): a slow NSS source delays only the
// lookups that need its answer. A lookup of a key being asked waits for
// that run. Without wait it runs nothing and waits for nothing: a key
// with no fresh answer kept fails with ErrNSSPending.
func (a *Accounts) ask(database, key string, wait bool) ([]byte, error) {
	if a.getent == nil || key == "" || strings.HasPrefix(key, "-") {
		return nil, nil
	}
	k := database + "\x00" + key
	for {
		if ans, ok := a.nss[k]; ok && a.now().Before(ans.until) {
			return ans.out, ans.err
		}
		if !wait {
			return nil, fmt.Errorf("getent %s %s: %w", database, key, ErrNSSPending)
		}
		running, ok := a.asking[k]
		if !ok {
			return a.run(k, database, key)
		}
		a.mu.Unlock()
		<-running
		a.mu.Lock()
		if ans, ok := a.nss[k]; ok {
			return ans.out, ans.err // that run's, however old the clock says
		}
		// The files changed meanwhile (load forgot it): ask again.
	}
}

// run asks getent for key k (database, key), without a.mu held while it
// runs, keeps the answer and returns it. Called with a.mu held.
func (a *Accounts) run(k, database, key string) ([]byte, error) {
	if a.asking == nil {
		a.asking = make(map[string]chan struct{})
	}
	done := make(chan struct{})
	a.asking[k] = done
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), getentTimeout)
	out, err := a.getent(ctx, database, key)
	cancel()
	a.mu.Lock()
	if a.nss == nil {
		a.nss = make(map[string]nssAnswer)
	}
	a.nss[k] = nssAnswer{out: out, err: err, until: a.now().Add(nssTTL)}
	delete(a.asking, k)
	close(done)
	return out, err
}

// load gives the parsed files, parsing them again when either changed
// since (its inode, size or mtime), and then forgetting NSS answers too
// (a user added to the files takes precedence). Called with a.mu held.
func (a *Accounts) load() *accountFiles {
	sig := [2]fileSig{statSig(a.passwd), statSig(a.group)}
	if a.files != nil && sig == a.sig {
		return a.files
	}
	f := &accountFiles{
		users: make(map[string]Account), byUID: make(map[uint32]Account),
		groups: make(map[string]uint32), members: make(map[string][]uint32),
	}
	if b, err := os.ReadFile(a.passwd); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			u, ok := parsePasswdLine(strings.TrimSpace(line))
			if !ok {
				continue
			}
			if _, dup := f.users[u.Name]; !dup { // the first line wins, as in glibc
				f.users[u.Name] = u
			}
			if _, dup := f.byUID[u.UID]; !dup {
				f.byUID[u.UID] = u
			}
		}
	}
	if b, err := os.ReadFile(a.group); err == nil {
		parseGroupFile(b, f)
	}
	a.files, a.sig, a.nss = f, sig, nil
	return f
}

func parseGroupFile(b []byte, f *accountFiles) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		fs := strings.Split(strings.TrimSpace(string(line)), ":")
		if len(fs) != 4 || fs[0] == "" || fs[0][0] == '#' || fs[0][0] == '+' || fs[0][0] == '-' {
			continue
		}
		gid, err := strconv.ParseUint(fs[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := f.groups[fs[0]]; !dup {
			f.groups[fs[0]] = uint32(gid)
		}
		for _, m := range strings.Split(fs[3], ",") {
			if m = strings.TrimSpace(m); m != "" && !containsID(f.members[m], uint32(gid)) {
				f.members[m] = append(f.members[m], uint32(gid))
			}
		}
	}
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// parsePasswdLine reads one passwd line (name:x:uid:gid:gecos:home:shell).
func parsePasswdLine(line string) (Account, bool) {
	f := strings.Split(line, ":")
	if len(f) != 7 || f[0] == "" || f[0][0] == '#' || f[0][0] == '+' || f[0][0] == '-' {
		return Account{}, false
	}
	uid, err1 := strconv.ParseUint(f[2], 10, 32)
	gid, err2 := strconv.ParseUint(f[3], 10, 32)
	if err1 != nil || err2 != nil {
		return Account{}, false
	}
	return Account{Name: f[0], UID: uint32(uid), GID: uint32(gid), Home: f[5], Shell: strings.TrimSpace(f[6])}, true
}

func statSig(path string) fileSig {
	fi, err := os.Stat(path)
	if err != nil {
		return fileSig{}
	}
	s := fileSig{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = st.Dev, st.Ino
	}
	return s
}
