package procinfo

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// A sample reads each process's files by a name under its open /proc
// (procdir.go): it must see what procfs's own reads by full path see.
// Its argv, owner and stat figures are checked against procfs's for a
// plain process, one that rewrote its argv in place (Perl's $0, as
// setproctitle does), and, as root, one started under another uid and
// one that dropped to it without an exec (its /proc directory is then
// root's: the owner must still be its real uid, psutil's username).
func TestSampleMatchesProcfs(t *testing.T) {
	pids := []int{startHelper(t, "block").pid, startRetitled(t)}
	if os.Getuid() == 0 {
		sleep := exec.Command("sleep", "3600")
		sleep.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
		pids = append(pids, sleep.Process.Pid, startHelper(t, "dropuid").pid)
	} else if os.Getenv("CI") == "true" {
		t.Fatal("CI runs as root: the processes of another uid are not checked")
	}
	s := New()
	got, err := s.Sample(pids)
	if err != nil {
		t.Fatal(err)
	}
	if s.dir.fd >= 0 {
		t.Errorf("the sample left its /proc fd %d open", s.dir.fd)
	}
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		in, ok := got[pid]
		if !ok {
			t.Errorf("pid %d: not sampled", pid)
			continue
		}
		p, err := fs.Proc(pid)
		if err != nil {
			t.Fatal(err)
		}
		argv, err := p.CmdLine()
		if err != nil {
			t.Fatal(err)
		}
		status, err := p.NewStatus()
		if err != nil {
			t.Fatal(err)
		}
		st, err := p.Stat()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			strings.Join(argv, "\x00"), programName(argv, st.Comm), s.username(status.UIDs[0]),
			strconv.Itoa(st.PPID), strconv.Itoa(st.Nice), strconv.Itoa(st.NumThreads), stateName(st.State),
		}
		have := []string{
			strings.Join(in.Argv, "\x00"), in.Cmdline, in.Username,
			strconv.Itoa(in.PPID), strconv.Itoa(in.Nice), strconv.Itoa(in.Threads), in.ProcState,
		}
		if !slices.Equal(have, want) {
			t.Errorf("pid %d: sampled %q, procfs reads %q", pid, have, want)
		}
		if created := s.bootTime + float64(st.Starttime)/userHZ; in.Started != created {
			t.Errorf("pid %d: started %v, procfs's stat gives %v", pid, in.Started, created)
		}
	}
	if argv := got[pids[1]].Argv; len(argv) == 0 || !strings.HasPrefix(argv[0], "poold-retitled") {
		t.Errorf("retitled process: argv %q, want its new title", argv)
	}
}

// startRetitled starts a Perl process that sets its title ($0, written
// over its argv and past it, into its environment's space) and returns
// its pid once it has.
func startRetitled(t *testing.T) int {
	t.Helper()
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Fatalf("test needs perl (Debian's perl-base): %v", err)
	}
	c := exec.Command(perl, "-e", `$0 = "poold-retitled worker: a title longer than the argv it replaces"; $| = 1; print "ready\n"; <STDIN>;`)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(); _ = c.Process.Kill(); _ = c.Wait() })
	if f, ok := out.(*os.File); ok {
		_ = f.SetReadDeadline(time.Now().Add(30 * time.Second))
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("perl (pid %d): ready line %q, %v", c.Process.Pid, line, err)
	}
	return c.Process.Pid
}
