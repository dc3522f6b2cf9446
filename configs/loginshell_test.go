package configs

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoginShellReadsThePasswdLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	passwd := "root:x:0:0:root:/root:/bin/bash\n" +
		"broken:x:1:1\n" +
		"app:x:1000:1000:App,,,:/srv/app:/usr/sbin/nologin\r\n" +
		"noshell:x:1001:1001::/home/noshell:\n"
	if err := os.WriteFile(path, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"root":    "/bin/bash",
		"app":     "/usr/sbin/nologin",
		"noshell": "",
		"broken":  "",
		"ghost":   "",
		"roo":     "",
	} {
		if got := loginShell(path, name); got != want {
			t.Errorf("loginShell(%q) = %q, want %q", name, got, want)
		}
	}
	if got := loginShell(filepath.Join(t.TempDir(), "missing"), "root"); got != "" {
		t.Errorf("missing passwd file: %q, want none", got)
	}
}
