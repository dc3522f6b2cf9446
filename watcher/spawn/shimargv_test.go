package spawn

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestShimTakesALongArgv: the shim got the worker's whole argv in one
// environment string, which exec limits to MAX_ARG_STRLEN (128 KiB), so
// args of 3 x 60000 bytes, each and all well within exec's limits,
// failed every start through the shim with E2BIG. The argv now reaches
// the worker whole, byte for byte, through each step.
func TestShimTakesALongArgv(t *testing.T) {
	long := strings.Repeat("a", 60000)
	odd := "quote\" backslash\\ newline\n <&> \x01 é"
	for _, tc := range []struct {
		name, step, shell string
		noStub            bool
		spec              ProcSpec
	}{
		{name: "shim", step: "shim", noStub: true, spec: ProcSpec{Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}},
		{name: "shim without stub or sh", step: "shim", shell: "/nonexistent/sh", noStub: true, spec: ProcSpec{Umask: 0o022}},
		{name: "stub", step: "stub", spec: ProcSpec{Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runSpawnerWith(t, tc.shell, tc.noStub)
			out, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			spec := tc.spec
			spec.Path = self(t)
			spec.Argv = []string{"spawn.test", long, long, long, odd, ""}
			spec.Stdout = outW
			if got := step(s.Spawner, spec); got != tc.step {
				t.Errorf("exec step %s, want %s", got, tc.step)
			}
			c := start(t, s.Spawner, "hold", spec)
			outW.Close()
			readReady(t, c, out)
			b, err := os.ReadFile("/proc/" + strconv.Itoa(c.p.Pid) + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Join(spec.Argv, "\x00") + "\x00"; string(b) != want {
				t.Errorf("the worker's argv is %d bytes, not the %d passed: %.200q", len(b), len(want), b)
			}
		})
	}
}
