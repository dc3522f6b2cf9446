package configs

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRlimitOverTheHardLimitWithoutCapability: a limit over poold's own
// hard limit can only be given by a poold with CAP_SYS_RESOURCE. Root
// without it (a container's root) passed --check and then every spawn
// failed with "the kernel refuses this limit" (r49b review): it is named
// at load, as for a user that is not root.
func TestRlimitOverTheHardLimitWithoutCapability(t *testing.T) {
	// A limit whose hard value is finite; else lower core's, for good
	// (which would change later tests that read it: only as a last
	// resort, r50b review).
	name, rl := "core", unix.Rlimit{}
	for _, n := range []string{"memlock", "msgqueue", "sigpending", "nproc"} {
		res, _ := RlimitResource(n)
		if err := unix.Getrlimit(res, &rl); err == nil && rl.Max != unix.RLIM_INFINITY {
			name = n
			break
		}
	}
	if name == "core" {
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &rl); err != nil {
			t.Fatal(err)
		}
		if rl.Max == unix.RLIM_INFINITY {
			rl = unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}
			if err := unix.Setrlimit(unix.RLIMIT_CORE, &rl); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := RlimitProblem(name, rl.Max+1)
	if hasCapability(capSysResource) {
		if got != "" {
			t.Errorf("with CAP_SYS_RESOURCE, %s %d over the hard limit %d: %q, want no problem", name, rl.Max+1, rl.Max, got)
		}
		return
	}
	if !strings.Contains(got, "over poold's own hard limit") || !strings.Contains(got, "CAP_SYS_RESOURCE") {
		t.Errorf("without CAP_SYS_RESOURCE, %s %d over the hard limit %d: %q, want it named", name, rl.Max+1, rl.Max, got)
	}
}
