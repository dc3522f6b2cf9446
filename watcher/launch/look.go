package launch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Why a program cannot be run; LookCommand's errors wrap one of these.
var (
	ErrNotFound      = errors.New("not found")
	ErrNotExecutable = errors.New("not executable")
)

// LookCommand finds the program name of a worker and checks that the user
// of cred may execute it. A name containing a slash is taken relative to
// dir; any other name is looked up in the PATH of env (DefaultPath when env
// has none), relative PATH entries relative to dir, and the first file that
// the user may execute wins.
//
// cred is the worker's credential (nil: poold's effective user and groups;
// with NoSetGroups, poold's supplementary groups). The check follows the
// permission bits as the kernel does: owner, else group (primary or
// supplementary), else others; root needs one x bit on the file and
// nothing on directories. Every directory on the path must be searchable.
// ACLs, capabilities other than root's and noexec mounts are not
// considered.
func LookCommand(name, dir string, env []string, cred *syscall.Credential) (string, error) {
	return LookCommandIn("", name, dir, env, cred)
}

// LookCommandIn is LookCommand for a worker whose root directory is root
// (its chroot; "" is "/"): dir, PATH and the result are paths inside
// root, checked at their place under root. (A symbolic link inside root
// is followed as poold sees it, not as the worker will.)
func LookCommandIn(root, name, dir string, env []string, cred *syscall.Credential) (string, error) {
	id := identityOf(cred)
	if root != "" {
		id.root = filepath.Clean(root)
	}
	return id.look(name, dir, env)
}

// LookOwn is LookCommand for a program poold runs itself, as its own
// user, from its working directory and with its own PATH: a command hook
// or an exec health check. Its errors say what to change on poold's
// side, not the watcher's (its env and user do not apply).
func LookOwn(name string) (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	id := identityOf(nil)
	id.own, id.ownEnv = true, true
	return id.look(name, cwd, []string{"PATH=" + os.Getenv("PATH")})
}

// LookProbe is LookOwn for an exec health check, which poold runs with
// its own PATH and working directory but as the watcher's user (cred).
func LookProbe(name string, cred *syscall.Credential) (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	id := identityOf(cred)
	id.ownEnv = true
	return id.look(name, cwd, []string{"PATH=" + os.Getenv("PATH")})
}

func (id identity) look(name, dir string, env []string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("the program name is empty: %w", ErrNotFound)
	}
	if strings.Contains(name, "/") {
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		if err := id.canExec(path); err != nil {
			if errors.Is(err, ErrNotFound) && !filepath.IsAbs(name) {
				return "", fmt.Errorf("%w (a relative program is taken from the working directory %s)", err, dir)
			}
			return "", err
		}
		return path, nil
	}
	pathVar, set := DefaultPath, false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok && !set {
			pathVar, set = v, true
		}
	}
	var denied error
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		cand := filepath.Join(d, name)
		err := id.canExec(cand)
		if err == nil {
			return cand, nil
		}
		if denied == nil && !errors.Is(err, ErrNotFound) {
			denied = err
		}
	}
	if denied != nil {
		return "", fmt.Errorf("%q is in PATH, but %w", name, denied)
	}
	fix := "give the program's full path, or set PATH in env"
	switch {
	case id.own:
		fix = "give the program's full path, or add its directory to poold's own PATH: poold runs it with its own environment, not the watcher's env"
	case id.ownEnv:
		fix = "give the program's full path, or add its directory to poold's own PATH: poold looks it up there, not in the watcher's env"
	}
	return "", fmt.Errorf("%q: %w"+inPath+"%q (%s)", name, ErrNotFound, pathVar, fix)
}

// inPath comes before the value of PATH in an error of a program Look
// did not find there.
const inPath = " in PATH "

// WithoutPath is msg, a text that ends with or holds an error of Look
// for a program not in PATH, without PATH's value (which can be long
// and says the same at each of a crash loop's attempts), and that value;
// ok is false when msg holds none.
func WithoutPath(msg string) (short, path string, ok bool) {
	i := strings.Index(msg, ": "+ErrNotFound.Error()+inPath+`"`)
	if i < 0 {
		return msg, "", false
	}
	at := i + len(": "+ErrNotFound.Error()+inPath)
	quoted, err := strconv.QuotedPrefix(msg[at:])
	if err != nil {
		return msg, "", false
	}
	path, err = strconv.Unquote(quoted)
	if err != nil {
		return msg, "", false
	}
	return msg[:at-1] + ", as logged before" + msg[at+len(quoted):], path, true
}

// identity is who a worker runs as.
type identity struct {
	uid, gid uint32
	groups   []uint32
	root     string // the worker's root directory; "" is "/"
	own      bool   // poold's own user, for a program poold runs itself (LookOwn)
	ownEnv   bool   // poold's own PATH (LookOwn, LookProbe)
}

func identityOf(cred *syscall.Credential) identity {
	if cred == nil {
		return identity{uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()), groups: ownGroups()}
	}
	id := identity{uid: cred.Uid, gid: cred.Gid, groups: cred.Groups}
	if cred.NoSetGroups {
		id.groups = ownGroups()
	}
	return id
}

func ownGroups() []uint32 {
	gs, _ := os.Getgroups()
	out := make([]uint32, len(gs))
	for i, g := range gs {
		out[i] = uint32(g)
	}
	return out
}

// canExec checks that path names a regular file that id may execute,
// reached through directories id may search.
func (id identity) canExec(path string) error {
	var err error
	if id.root != "" {
		if path, err = inRoot(id.root, path); err != nil {
			return fmt.Errorf("%s: %w", path, pathErr(err))
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: %w", path, pathErr(err))
	case fi.IsDir():
		return fmt.Errorf("%s: %w: it is a directory; name the program file inside it", path, ErrNotExecutable)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: %w: not a regular file (%s)", path, ErrNotExecutable, fi.Mode().Type())
	}
	if err := id.reachable(path); err != nil {
		return err
	}
	if !id.may(fi, 0o1) {
		fix := "allow it with chmod, or run the watcher as another user"
		if id.own {
			fix = "allow it with chmod: poold runs it as its own user, whatever the watcher's uid"
		}
		return fmt.Errorf("%s: %w by %s (%s); %s", path, ErrNotExecutable, id, describe(fi), fix)
	}
	return nil
}

// Enterable checks that dir, a worker's working_dir (inside root when
// root is set), is a directory the user of cred (nil: poold's own) may
// enter, and names what stops it: the spawner asks when a fork's chdir
// failed with EACCES, to name the directory rather than the program.
func Enterable(root, dir string, cred *syscall.Credential) error {
	return identityOf(cred).enterable(root, dir)
}

// enterable checks that dir, a worker's working_dir (inside root when
// root is set), is a directory id may enter. The kernel's chdir in the
// forked child fails otherwise, and the fork reports that failure as the
// program's ("fork/exec PROGRAM: no such file or directory"), so a
// working_dir removed or closed under a running watcher is named here,
// before the fork.
func (id identity) enterable(root, dir string) error {
	const fix = "create it again, or set another working_dir and reload"
	top := "/"
	path := dir
	var err error
	if root != "" {
		top = filepath.Clean(root)
		if path, err = inRoot(root, dir); err != nil {
			return fmt.Errorf("working_dir %s: %w (%s)", path, pathErr(err), fix)
		}
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("working_dir %s: %w (%s)", path, pathErr(err), fix)
	case !fi.IsDir():
		return fmt.Errorf("working_dir %s: not a directory (%s)", path, fix)
	case id.uid == 0:
		return nil
	}
	for d := path; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && !id.may(fi, 0o1) {
			return fmt.Errorf("working_dir %s: %s may not enter it: directory %s is not searchable (%s); allow it with chmod, or run the watcher as another user",
				path, id, d, describe(fi))
		}
		if d == "/" || d == top {
			return nil // above a chroot is not the worker's concern
		}
	}
}

// reachable checks that id may search every directory above path and,
// when path goes through symbolic links, above its real path. Root may
// search any directory, so nothing is looked at for it (resolving the
// links costs a system call per component, on every spawn).
func (id identity) reachable(path string) error {
	if id.uid == 0 {
		return nil
	}
	if err := id.searchable(path); err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		return id.searchable(real)
	}
	return nil
}

// searchable checks that id, not root, may search every directory above
// path.
func (id identity) searchable(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil && !id.may(fi, 0o1) {
			return fmt.Errorf("%s: %w by %s: directory %s is not searchable (%s); every directory on the path needs x permission for that user",
				path, ErrNotExecutable, id, d, describe(fi))
		}
		if d == "/" || d == id.root {
			return nil // above a chroot is not the worker's concern
		}
	}
}

// may reports whether id has permission bit (0o1 execute/search, 0o2
// write, 0o4 read) on fi, choosing the owner, group or other class as the
// kernel does. Root may search any directory and execute a file with any
// x bit.
func (id identity) may(fi os.FileInfo, bit os.FileMode) bool {
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case id.uid == 0:
		return fi.IsDir() || bit != 0o1 || perm&0o111 != 0
	case !ok:
		return perm&(bit|bit<<3|bit<<6) != 0
	case st.Uid == id.uid:
		return perm&(bit<<6) != 0
	case st.Gid == id.gid || slices.Contains(id.groups, st.Gid):
		return perm&(bit<<3) != 0
	}
	return perm&bit != 0
}

func (id identity) String() string {
	if n := userName(id.uid); !strings.HasPrefix(n, "uid ") {
		return "user " + n
	}
	return "uid " + strconv.FormatUint(uint64(id.uid), 10)
}

// describe renders a file's mode and owner: "mode 0644, owner root:root".
func describe(fi os.FileInfo) string {
	s := fmt.Sprintf("mode %04o", uint32(fi.Mode().Perm()))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s += fmt.Sprintf(", owner %s:%s", userName(st.Uid), groupName(st.Gid))
	}
	return s
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil && u.Username != "" {
		return u.Username
	}
	return "uid " + strconv.FormatUint(uint64(uid), 10)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil && g.Name != "" {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}

// pathErr drops the path an *fs.PathError repeats.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// maxLinks is how many symbolic links a lookup follows, as Linux's
// (ELOOP past 40).
const maxLinks = 40

// inRoot is the host's path of p, a path as a process whose root
// directory is root sees it, with the links on the way followed as the
// kernel follows them for that process: an absolute target starts again
// at root and ".." stops there. Followed on the host instead, a link
// inside a chroot (/usr/bin/awk -> /etc/alternatives/awk, Alpine's
// /bin/sh -> /bin/busybox) reaches the host's file, or none. From the
// first part that is missing on, the rest is joined as it is: a Stat of
// the result then fails as the worker's would. Past maxLinks links it
// fails with ELOOP, as the kernel would.
func inRoot(root, p string) (string, error) {
	cur, rest := "/", strings.Split(p, "/")
	for links := 0; len(rest) > 0; {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		next := filepath.Join(cur, part) // ".." of "/" is "/"
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil { // not a link, or missing
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return filepath.Join(root, p), &fs.PathError{Op: "stat", Path: filepath.Join(root, p), Err: syscall.ELOOP}
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, cur), nil
}
