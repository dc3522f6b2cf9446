package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestCheckRefusesProgramsTheKernelCannotRun: a script without a #!
// line, with a #! line in Windows line endings, or naming an interpreter
// that is not installed passed --check (and a reload, add or set of a
// hook), then failed at every spawn or hook run with "exec format error"
// or "no such file or directory" about a file that is there. Each is
// first run for real here, to show the kernel refuses it.
func TestCheckRefusesProgramsTheKernelCannotRun(t *testing.T) {
	dir := openDir(t)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no-shebang", "echo hi\nexit 0\n", "it is text without a #! line; make its first line #!/bin/sh"},
		{"empty", "", "the file is empty"},
		{"crlf", "#!/bin/sh\r\necho hi\r\n", `its #! line ends in a carriage return (Windows line endings), so the interpreter looked for is "/bin/sh\r"`},
		{"no-interpreter", "#!/nonexistent/python9 -u\nprint(1)\n", "its #! interpreter /nonexistent/python9 is not there"},
		{"crlf-env", "#!/usr/bin/env sh\r\necho hi\r\n", `its #! line ends in a carriage return (Windows line endings), so the program looked for is "sh\r"`},
		{"good", "#! /bin/sh -e\nexit 0\n", ""},
		{"good-env", "#!/usr/bin/env sh\nexit 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.body), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(path).Run(); (err == nil) != (tc.want == "") {
				t.Fatalf("running %s for real: %v", tc.name, err)
			}
			w := configs.DefaultWatcher("web")
			w.Cmd = path + " --flag"
			w.Hooks = map[string]string{"after_stop": path}
			err := Check(w)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			for _, key := range []string{"watchers.web.cmd: ", "watchers.web.hooks.after_stop: "} {
				if err == nil || !strings.Contains(err.Error(), key+path+": the kernel cannot run it") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Check, %s: want %q, got %v", key, tc.want, err)
				}
			}
		})
	}
	// A binary passes: ELF, or another format binfmt_misc may run.
	w := configs.DefaultWatcher("web")
	bin := filepath.Join(dir, "blob")
	if err := os.WriteFile(bin, []byte("PK\x03\x04\x00\x00"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Cmd = bin
	w.Hooks = map[string]string{"after_stop": "/bin/true"}
	if err := Check(w); err != nil {
		t.Errorf("Check of binaries: %v", err)
	}
}

// TestScriptInChrootFollowsLinksInsideIt: a chroot's #! interpreter that
// is an absolute link inside the chroot (Alpine's /bin/sh ->
// /bin/busybox) was followed on the host, where its target is missing,
// and a chroot script the worker runs fine was refused by --check and
// by a reload.
func TestScriptInChrootFollowsLinksInsideIt(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"opt/rt/bin", "usr/local/bin", "app"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "opt/rt/bin/interp"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Absolute, and relative through a linked directory.
	if err := os.Symlink("/opt/rt/bin/interp", filepath.Join(root, "usr/local/bin/interp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../opt/rt/bin", filepath.Join(root, "rtbin")); err != nil {
		t.Fatal(err)
	}
	for interp, want := range map[string]bool{"/usr/local/bin/interp": true, "/rtbin/interp": true, "/usr/local/bin/nothing": false} {
		if err := os.WriteFile(filepath.Join(root, "app/run"), []byte("#!"+interp+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := scriptProblem(root, "/app/run"); (err == nil) != want {
			t.Errorf("#!%s inside the chroot: %v, want ok %t", interp, err, want)
		}
	}
}
