package spawn

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The exec stub: the cheapest exec step for LISTEN_PID, a umask, rlimits,
// nice and oom_score_adj. It is a static ELF program of under a kilobyte
// (execStubCode, amd64 only), kept in a sealed memfd that the spawner
// creates once. A worker that needs the step is exec'd as
// /proc/self/fd/K, K being the memfd passed as the child's last fd, with
//
//	argv = CONTROL, PATH, the worker's argv...
//	env  = the worker's env, and LISTEN_PID=XXXXXXXXXX with Listen
//
// CONTROL is 'L' (set LISTEN_PID) or '-', then K in decimal, then, for a
// umask, 'u' and the umask in octal, then, for rlimits, nice or
// oom_score_adj, 'w'. The stub sets the umask; with 'w' it writes a byte
// on K+1 (the exec status pipe), which tells poold that the stub's own
// exec is over (one ending writes back the stack limit it began with),
// then waits for a byte on K+2 (the go pipe) while poold sets the rest
// from outside (attrs.go), and exits 127 if none comes. It closes K,
// makes K+1 (execstatus.go) close-on-exec, writes its pid and a
// NUL over the placeholder (the kernel copies each string up to its NUL,
// so no padding reaches the worker) and execs PATH with the worker's
// argv, in the same process: the worker sees the same /proc/PID/exe,
// cmdline, environ, fds and argv[0] as when exec'd directly. When that
// exec fails, the stub ignores SIGPIPE, writes "poold-exec: exec PATH:
// REASON" on stderr, then the errno to K+1, and exits 127, as the shim
// does: in that order the reason is said even when poold has stopped
// reading K+1 (Pending.Wait gives up after execStatusWait).
//
// The spawner falls back to /bin/sh, and says why once, where the stub
// cannot run: not amd64, memfd_create refused (vm.memfd_noexec = 2), or
// its exec refused (noexec policies, seccomp).

// stubPlaceholder is the LISTEN_PID entry the stub overwrites: room for
// any pid (at most 4194304 on Linux) and a NUL.
const stubPlaceholder = "LISTEN_PID=XXXXXXXXXX"

// execStubBase is where the stub is loaded; execStubHeader the size of
// its ELF header and two program headers, where its code begins.
const (
	execStubBase   = 0x400000
	execStubHeader = 64 + 2*56
)

// execStub is the sealed memfd holding the stub.
type execStub struct {
	f *os.File
}

// newExecStub writes the stub into a sealed, close-on-exec memfd, or says
// why it cannot.
func newExecStub() (*execStub, error) {
	if len(execStubCode) == 0 {
		return nil, fmt.Errorf("no exec stub for %s (amd64 only)", runtime.GOARCH)
	}
	const name = "poold-exec-stub"
	const flags = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // before Linux 6.3, no MFD_EXEC
		fd, err = unix.MemfdCreate(name, flags)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w (is vm.memfd_noexec 2?)", err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(execStubELF(execStubCode)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write the exec stub into its memfd: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal the exec stub's memfd: %w", err)
	}
	return &execStub{f: f}, nil
}

// execStubELF wraps code in a minimal static ELF executable: one
// read-and-execute segment holding the whole file, and a non-executable
// stack.
func execStubELF(code []byte) []byte {
	size := uint64(execStubHeader + len(code))
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: execStubBase + execStubHeader, Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	load := elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Vaddr: execStubBase, Paddr: execStubBase, Filesz: size, Memsz: size, Align: 0x1000,
	}
	stack := elf.Prog64{Type: uint32(elf.PT_GNU_STACK), Flags: uint32(elf.PF_R | elf.PF_W), Align: 16}
	var b bytes.Buffer
	for _, v := range []any{hdr, load, stack} {
		_ = binary.Write(&b, binary.LittleEndian, v) // fixed-size values into a buffer
	}
	b.Write(code)
	return b.Bytes()
}

// stubStep is the stub's exec step for spec, whose files (fds 0-2 and
// spec.Files) come first in the child: the stub's memfd follows them.
func stubStep(spec ProcSpec, env []string) (path string, argv, stubEnv []string) {
	fd := 3 + len(spec.Files)
	control := "-"
	if spec.Listen {
		control = "L"
	}
	control += strconv.Itoa(fd)
	if spec.Umask >= 0 {
		control += "u" + strconv.FormatInt(int64(spec.Umask), 8)
	}
	if setFromOutside(spec) {
		control += "w"
	}
	argv = make([]string, 0, 2+len(spec.Argv))
	argv = append(argv, control, spec.Path)
	argv = append(argv, spec.Argv...)
	if !spec.Listen {
		return "/proc/self/fd/" + strconv.Itoa(fd), argv, env
	}
	stubEnv = make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LISTEN_PID=") { // as the shell's export would replace it
			stubEnv = append(stubEnv, kv)
		}
	}
	stubEnv = append(stubEnv, stubPlaceholder)
	return "/proc/self/fd/" + strconv.Itoa(fd), argv, stubEnv
}

// loadStub creates the stub for Run, or says once why there is none.
func (s *Spawner) loadStub() {
	if s.stubOff {
		return // tests: the fallback path, silently
	}
	stub, err := newExecStub()
	if err != nil {
		s.warnf("no exec stub: workers that need LISTEN_PID or a umask are exec'd through /bin/sh first, "+
			"about 0.6 ms more each", err)
		return
	}
	s.stub.Store(stub)
}

// closeStub closes the stub's memfd when Run returns.
func (s *Spawner) closeStub() {
	if stub := s.stub.Swap(nil); stub != nil {
		stub.f.Close()
	}
}

// dropStub gives up the stub, whose exec failed with err where the next
// exec step worked, and says so once.
func (s *Spawner) dropStub(stub *execStub, err error) {
	stub.f.Close()
	s.warnf("the exec stub cannot run here (a noexec or seccomp policy?): workers that need LISTEN_PID "+
		"or a umask are exec'd through /bin/sh (or poold's shim) first from now on, about 0.6 ms more each", err)
}

// stubMayBeAtFault says whether a start through the stub that failed with
// err is worth retrying through the next step: not when the fork itself
// lacked resources (forkLacked), which the next step would lack too, nor
// when poold could not set the worker's attributes (the shim could not
// either). A retry that works there only found an fd another goroutine
// had just closed, and must not make poold give up the stub for good.
func stubMayBeAtFault(err error) bool {
	if forkLacked(err) {
		return false
	}
	var attrs *attrsError
	return !errors.As(err, &attrs)
}

// Lacked says whether a start failed for want of pids, memory or fds
// (forkLacked): a want of the host's or of poold's that passes, not a
// fault of the worker's program or config.
func Lacked(err error) bool { return forkLacked(err) }

// forkLacked says whether a fork failed for want of pids (pids.max,
// RLIMIT_NPROC), memory or fds (poold's RLIMIT_NOFILE used up, or the
// system's file table), or was interrupted: a passing want, which says
// nothing of what was to be exec'd.
func forkLacked(err error) bool {
	for _, errno := range []unix.Errno{unix.EAGAIN, unix.ENOMEM, unix.EINTR, unix.EMFILE, unix.ENFILE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// stubRuns reports whether the stub can be exec'd here at all, for a
// start through it that failed: it is started alone, with no argument,
// and then says its usage and exits 127. A start whose failure was the
// worker's own (a working_dir removed, a user missing) must not make
// poold give up the stub: the next step, the shim, forks without the
// directory and user, and would start where the stub could not. Nor must
// a probe that could not fork for want of pids, memory or fds (forkLacked,
// as the start before it may just have had them): that says nothing of
// the stub, which is kept.
func (s *Spawner) stubRuns() bool {
	stub := s.stub.Load()
	devnull, err := s.devnull()
	if stub == nil || err != nil {
		return stub != nil
	}
	files := []*os.File{devnull, devnull, devnull, stub.f}
	_, err = s.fork("/proc/self/fd/3", []string{"poold-exec-stub"}, &syscall.ProcAttr{Env: []string{}},
		fdsOf(files), nil, "", nil)
	runtime.KeepAlive(files)
	return err == nil || forkLacked(err)
}

// warnf says msg and err through SetWarn's function, or on stderr.
func (s *Spawner) warnf(msg string, err error) {
	if warn := s.warn.Load(); warn != nil {
		(*warn)(msg, "error", err)
		return
	}
	fmt.Fprintf(os.Stderr, "poold: spawn: %s: %v\n", msg, err)
}
