package launch

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// TestBuildNamesAWorkingDirItCannotEnter: Build found the program (an
// absolute path) and left the working directory to the fork, whose chdir
// failure was reported as the program's: "fork/exec /bin/true: no such
// file or directory" for a working_dir removed under a running watcher,
// "permission denied" for one its user may not enter. Build now names
// working_dir and the directory.
func TestBuildNamesAWorkingDirItCannotEnter(t *testing.T) {
	base := openDir(t)
	file := program(t, base, "a-file", 0o755)
	private := filepath.Join(base, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	inner := filepath.Join(private, "inner")
	if err := os.Mkdir(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	who := identityOf(nobody).String() // "user nobody"
	for _, tc := range []struct {
		name string
		dir  string
		cred *syscall.Credential
		want string // "" for no error
	}{
		{"removed", filepath.Join(base, "gone"), nil, "working_dir " + filepath.Join(base, "gone") + ": no such file or directory (create it again"},
		{"a file", file, nil, "working_dir " + file + ": not a directory"},
		{"not searchable by the user", private, nobody, "working_dir " + private + ": " + who + " may not enter it: directory " + private + " is not searchable (mode 0700"},
		{"below a directory the user may not search", inner, nobody, "working_dir " + inner + ": " + who + " may not enter it: directory " + private + " is not searchable"},
		{"fine", base, nobody, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := configs.Watcher{Name: "web", Cmd: "/bin/true", WorkingDir: tc.dir}
			_, err := Build(spec, Handoff{}, 1, tc.cred)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
