package launch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// TestCheckExecSize: a command line and environment exec would refuse
// with this machine's stack limit (here rlimits.stack's) passed
// --check and a reload; every spawn then failed with "argument list too
// long". Check now refuses it, naming the largest keys and the limit.
func TestCheckExecSize(t *testing.T) {
	stackAtLeast(t, 4<<20)
	arg := strings.Repeat("a", 100000)
	spec := configs.Watcher{Name: "web", Cmd: "sh -c true", Args: []string{arg, arg, arg}, Env: []string{"X=y"},
		Rlimits: map[string]uint64{"stack": 1 << 20}}
	err := Check(spec)
	for _, want := range []string{
		"watchers.web.cmd: the command line and environment are ",
		"that poold adds to exec them: the program's path and its exec step's own strings), over the 262144 bytes exec takes with rlimits.stack 1048576 (a quarter of it); the largest, in bytes: args[0] 100000, args[1] 100000, args[2] 100000;",
		"or raise rlimits.stack",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %.1000v\nwant %q", err, want)
		}
	}
	spec.Rlimits = nil // poold's own limit, at least 4 MiB: 1 MiB or more
	if err := Check(spec); err != nil {
		t.Errorf("Check without rlimits.stack = %.1000v", err)
	}
}

// TestExplainSpawn: an E2BIG from a spawn gets the sizes and keys;
// another error is left as it is.
func TestExplainSpawn(t *testing.T) {
	spec := configs.Watcher{Name: "web", Cmd: "/bin/echo one", Env: []string{"BIG=" + strings.Repeat("b", configs.ArgStrMax())}}
	c := Command{Path: "/bin/echo", Argv: []string{"/bin/echo", "one"}, Env: spec.Env}
	e2big := fmt.Errorf("start /bin/echo: %w", syscall.E2BIG)
	got := ExplainSpawn(e2big, spec, c)
	if !errors.Is(got, syscall.E2BIG) || !strings.Contains(got.Error(), fmt.Sprintf("argument list too long: env BIG is %d bytes: over the kernel's limit of %d bytes for one argument or environment entry; pass large data in a file", configs.ArgStrMax()+4, configs.ArgStrMax())) {
		t.Errorf("ExplainSpawn(E2BIG, a long env entry) = %v", got)
	}
	spec.Env, c.Env = nil, nil
	if got := ExplainSpawn(e2big, spec, c); !strings.Contains(got.Error(), "argument list too long: the command line and environment are 30 bytes, and their exec step adds up to ") ||
		!strings.Contains(got.Error(), "yet exec refused them") {
		t.Errorf("ExplainSpawn(E2BIG, small) = %v", got)
	}
	other := fmt.Errorf("start: %w", syscall.ENOENT)
	if got := ExplainSpawn(other, spec, c); got != other {
		t.Errorf("ExplainSpawn(ENOENT) = %v, want it unchanged", got)
	}
}

// TestCheckCountsWhatTheSpawnAdds: Check sized argv and env without
// what the spawn adds (POOLD_WID, POOLD_WATCHER, the exec file name, the
// exec step's strings; since r61 the mark, POOLD_CONFIG_ID and
// POOLD_STARTED_BY, too), so a command line a few bytes under the limit
// passed --check and every spawn failed with E2BIG. Check now counts
// them, and names the kernel's floor of 32 pages where it, not a quarter
// of the stack limit, applies.
func TestCheckCountsWhatTheSpawnAdds(t *testing.T) {
	stackAtLeast(t, 4<<20)
	spec := configs.Watcher{Name: "web", Cmd: "/bin/true", Rlimits: map[string]uint64{"stack": 256 << 10}}
	floor := configs.ExecLimit(256 << 10)
	if floor != uint64(32*os.Getpagesize()) {
		t.Fatalf("ExecLimit(256 KiB) = %d, want the floor of 32 pages", floor)
	}
	bare := configs.ExecSize([]string{"/bin/true", ""}, Env(spec))
	spec.Args = []string{strings.Repeat("a", int(floor-bare)-10)} // argv and env 10 bytes under
	if n := configs.ExecSize([]string{"/bin/true", spec.Args[0]}, Env(spec)); n > floor {
		t.Fatalf("argv and env are %d bytes, over %d", n, floor)
	}
	err := Check(spec)
	for _, want := range []string{
		"watchers.web.cmd: the command line and environment are ",
		"that poold adds to exec them: the program's path and its exec step's own strings), over the " +
			fmt.Sprint(floor) + " bytes exec takes at least, the kernel's floor (a quarter of rlimits.stack 262144 is less); the largest, in bytes: args[0] ",
		"or raise rlimits.stack",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %.1000v\nwant %q", err, want)
		}
	}
	spec.Args[0] = spec.Args[0][:len(spec.Args[0])-int(StepSize(Command{Path: "/bin/true"}))-300]
	if err := Check(spec); err != nil {
		t.Errorf("Check with room for what the spawn adds = %.1000v", err)
	}
}

// stackAtLeast gives the test process a stack limit (soft) of at least
// n, as a machine's usual 8 MiB is, for the test's duration.
func stackAtLeast(t *testing.T, n uint64) {
	t.Helper()
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &own); err != nil {
		t.Fatal(err)
	}
	if own.Cur >= n {
		return
	}
	raised := own
	raised.Cur = min(n, own.Max)
	if err := unix.Setrlimit(unix.RLIMIT_STACK, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_STACK, &own) })
}

// TestCheckNamesTheLongStringsKey: Check named an argument or
// environment entry over the kernel's limit for one string under cmd,
// while the config's own check names it args[0] or env[i]: --check,
// which leaves out a machine problem of a key the file's problems name,
// printed the one problem twice. Check names the key it comes from.
func TestCheckNamesTheLongStringsKey(t *testing.T) {
	long := strings.Repeat("a", configs.ArgStrMax()+1)
	spec := configs.Watcher{Name: "web", Cmd: "sh -c true", Args: []string{"ok", long}, Env: []string{"X=y", "BIG=" + long}}
	err := Check(spec)
	var ce *configs.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Check = %v, want a *configs.Error", err)
	}
	var keys []string
	for _, p := range ce.Problems {
		keys = append(keys, p.Key)
	}
	if want := []string{"watchers.web.env[1]", "watchers.web.args[1]"}; !slices.Equal(keys, want) {
		t.Errorf("Check named %q, want %q:\n%v", keys, want, err)
	}
}
