package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// owned makes path belong to a user other than root when the test runs as
// root, so that the owner class is not root's; it returns the file's uid
// and gid.
func owned(t testing.TB, path string) (uint32, uint32) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, 4321, 4321); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Uid, st.Gid
}

// TestLookCommandModes checks executability for each permission class.
func TestLookCommandModes(t *testing.T) {
	dir := openDir(t)
	for _, tc := range []struct {
		mode os.FileMode
		who  string // owner, group, supplementary, other, root
		ok   bool
	}{
		{0o755, "owner", true}, {0o755, "group", true}, {0o755, "other", true}, {0o755, "root", true},
		{0o644, "owner", false}, {0o644, "other", false}, {0o644, "root", false},
		{0o100, "owner", true}, {0o100, "group", false}, {0o100, "root", true},
		{0o010, "group", true}, {0o010, "supplementary", true}, {0o010, "other", false},
		{0o010, "owner", false}, // the owner class decides, whatever the group may do
		{0o001, "other", true}, {0o001, "owner", false}, {0o001, "root", true},
	} {
		name := tc.mode.String() + "-" + tc.who
		t.Run(name, func(t *testing.T) {
			path := program(t, dir, name, tc.mode)
			uid, gid := owned(t, path)
			cred := map[string]*syscall.Credential{
				"owner":         {Uid: uid, Gid: 60000},
				"group":         {Uid: 60001, Gid: gid},
				"supplementary": {Uid: 60001, Gid: 60002, Groups: []uint32{gid}},
				"other":         {Uid: 60001, Gid: 60002},
				"root":          {Uid: 0, Gid: 0},
			}[tc.who]
			got, err := LookCommand(path, "/", nil, cred)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("got %v, want %s", err, path)
			case tc.ok && got != path:
				t.Fatalf("got %s, want %s", got, path)
			case !tc.ok && !errors.Is(err, ErrNotExecutable):
				t.Fatalf("got %q, %v; want ErrNotExecutable", got, err)
			case !tc.ok && !strings.Contains(err.Error(), path+": not executable by ") ||
				!tc.ok && !strings.Contains(err.Error(), fmt.Sprintf("(mode %04o", uint32(tc.mode))):
				t.Errorf("message %q lacks the path, the user or the mode", err)
			}
		})
	}
}

func TestLookCommand(t *testing.T) {
	dir := openDir(t)
	tool := program(t, dir, "b/tool", 0o755)
	program(t, dir, "a/tool", 0o644)
	program(t, dir, "a/only", 0o644)
	locked := program(t, dir, "locked/tool", 0o755)
	if err := os.Chmod(filepath.Dir(locked), 0o700); err != nil {
		t.Fatal(err)
	}
	owned(t, filepath.Dir(locked))
	if err := os.Symlink(tool, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	other := &syscall.Credential{Uid: 60001, Gid: 60002}
	root := &syscall.Credential{}
	path := func(p string) []string { return []string{"PATH=" + p} }
	for _, tc := range []struct {
		name    string
		program string
		env     []string
		cred    *syscall.Credential
		want    string // the path found, or a substring of the error
		err     error
	}{
		{"absolute", tool, nil, other, tool, nil},
		{"relative to dir", "b/tool", nil, other, tool, nil},
		{"dot relative", "./b/../b/tool", nil, other, tool, nil},
		{"symlink", filepath.Join(dir, "link"), nil, other, filepath.Join(dir, "link"), nil},
		{"PATH: first executable wins", "tool", path(dir + "/a:" + dir + "/b"), other, tool, nil},
		{"PATH: relative entry", "tool", path("b"), other, tool, nil},
		{"PATH: only a file the user may not run", "only", path(dir + "/a"), other,
			`"only" is in PATH, but ` + dir + "/a/only: not executable by uid 60001 (mode 0644", ErrNotExecutable},
		{"PATH: not there", "nope-poold", path(dir + "/a:/nonexistent"), other,
			`"nope-poold": not found in PATH "` + dir + `/a:/nonexistent" (give the program's full path, or set PATH in env)`, ErrNotFound},
		{"default PATH", "sh", []string{"HOME=/"}, nil, "/sh", nil},
		{"missing", dir + "/nope", nil, other, dir + "/nope: not found", ErrNotFound},
		{"missing relative", "bin/nope", nil, other, dir + "/bin/nope: not found (a relative program is taken from the working directory " + dir + ")", ErrNotFound},
		{"under a file", tool + "/x", nil, other, tool + "/x: not found", ErrNotFound},
		{"directory", dir + "/b", nil, root, dir + "/b: not executable: it is a directory; name the program file inside it", ErrNotExecutable},
		{"not a regular file", os.DevNull, nil, root, "/dev/null: not executable: not a regular file", ErrNotExecutable},
		{"directory not searchable", locked, nil, other, locked + ": not executable by uid 60001: directory " + filepath.Dir(locked) + " is not searchable (mode 0700", ErrNotExecutable},
		{"root searches anything", locked, nil, root, locked, nil},
		{"empty", "", nil, nil, "the program name is empty", ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LookCommand(tc.program, dir, tc.env, tc.cred)
			if tc.err == nil {
				if err != nil || !strings.HasSuffix(got, tc.want) {
					t.Fatalf("got %q, %v; want %s", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want %v containing %q", got, err, tc.err, tc.want)
			}
		})
	}
}

// TestLookInChrootFollowsLinksInsideIt: a chroot's program reached through
// an absolute link inside the chroot (/usr/bin/awk -> /etc/alternatives/awk
// -> /usr/bin/mawk, Alpine's /bin/sh -> /bin/busybox) was followed on the
// host, where the target is missing (or another file), and a worker the
// kernel runs fine was refused "not found"; a working_dir reached through
// such a link likewise.
func TestLookInChrootFollowsLinksInsideIt(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"opt/rt-inside-only/bin", "usr/local/bin", "etc/alternatives", "srv/data-inside-only"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "opt/rt-inside-only/bin/prog"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"usr/local/bin/prog":    "/etc/alternatives/prog", // absolute, twice
		"etc/alternatives/prog": "/opt/rt-inside-only/bin/prog",
		"rtbin":                 "../../../../opt/rt-inside-only/bin", // ".." stops at the root
		"data":                  "/srv/data-inside-only",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, prog := range []string{"/usr/local/bin/prog", "/rtbin/prog"} {
		if _, err := LookCommandIn(root, prog, "/", nil, nil); err != nil {
			t.Errorf("%s inside the chroot: %v, want found", prog, err)
		}
	}
	if got, err := LookCommandIn(root, "prog", "/", []string{"PATH=/usr/local/bin"}, nil); err != nil || got != "/usr/local/bin/prog" {
		t.Errorf("prog on the chroot's PATH: %q, %v; want /usr/local/bin/prog", got, err)
	}
	if _, err := LookCommandIn(root, "/usr/local/bin/nothing", "/", nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing program inside the chroot: %v, want not found", err)
	}
	if err := identityOf(nil).enterable(root, "/data"); err != nil {
		t.Errorf("working_dir /data, a link inside the chroot: %v", err)
	}
}

// A chain of more links than the kernel follows (40) inside a chroot
// fails as the worker's exec would (ELOOP), even where the host's path
// at its end exists: the check joined the rest and let the host resolve
// it (r48b review).
func TestLookInChrootStopsAfterFortyLinks(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 41; i++ {
		target := fmt.Sprintf("/l%d", i+1)
		if i == 40 {
			target = "/bin/sh" // on the host, not in the chroot
		}
		if err := os.Symlink(target, filepath.Join(root, fmt.Sprintf("l%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LookCommandIn(root, "/l0", "/", nil, nil); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("41 links inside the chroot: %v, want too many levels of symbolic links", err)
	}
}

// TestWithoutPath: the short form of a not-in-PATH error, as the log
// repeats it, drops PATH's value only (quotes in it included), and
// leaves other errors alone.
func TestWithoutPath(t *testing.T) {
	for _, tc := range []struct{ in, short, path string }{
		{`spawn error: "gunicron": not found in PATH "/a:/b \"q\"" (give the program's full path, or set PATH in env)`,
			`spawn error: "gunicron": not found in PATH, as logged before (give the program's full path, or set PATH in env)`, `/a:/b "q"`},
		{`spawn error: /opt/app: not found`, `spawn error: /opt/app: not found`, ""},
		{`spawn error: "x" is in PATH, but /a/x: permission denied`, `spawn error: "x" is in PATH, but /a/x: permission denied`, ""},
	} {
		short, path, ok := WithoutPath(tc.in)
		if short != tc.short || path != tc.path || ok != (tc.path != "") {
			t.Errorf("WithoutPath(%q) = %q, %q, %v; want %q, %q", tc.in, short, path, ok, tc.short, tc.path)
		}
	}
	_, err := LookCommand("poold-no-such-program", "/", []string{"PATH=" + DefaultPath}, nil)
	if _, path, ok := WithoutPath(err.Error()); !ok || path != DefaultPath {
		t.Errorf("WithoutPath(%q): PATH %q, %v; want %q", err, path, ok, DefaultPath)
	}
}
