package sockets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// TestPrivilegedPort binds port 1 without CAP_NET_BIND_SERVICE. When the
// test runs as root it drops that capability in a helper process.
func TestPrivilegedPort(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n <= 1 {
			t.Skipf("this kernel lets every user bind port 1 (ip_unprivileged_port_start = %d)", n)
		}
	}
	err := runHelper(t, "privport")
	start := configs.UnprivilegedPortStart()
	wantErr(t, err, fmt.Sprintf("sockets: web: bind 127.0.0.1:1: permission denied (ports below %d (sysctl net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE", start))
}

// TestPrivilegedPortNamesTheSysctl (r56b nonroot, finding 5): the
// message named 1024 whatever net.ipv4.ip_unprivileged_port_start said.
// In a helper process with a network namespace of its own (the sysctl
// is per namespace), the sysctl is set to 500, and port 400 bound
// without CAP_NET_BIND_SERVICE: the refusal names 500.
//
// Both ran on a locked OS thread of the test process until r59 (net
// L8). When that goroutine ran on the main thread, which the Go runtime
// never ends, the thread group leader stayed in the new namespace, and
// /proc/net/tcp (/proc/self/net, the leader's) showed that empty one:
// every holder lookup in the tests that followed found nobody.
func TestPrivilegedPortNamesTheSysctl(t *testing.T) {
	err := runHelper(t, "privport-sysctl")
	wantErr(t, err, "sockets: web: bind 0.0.0.0:400: permission denied (ports below 500 (sysctl net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE; grant poold that capability or choose a port >= 500")
}

// runHelper runs the test binary as helper mode and returns the error
// it printed (nil for none).
func runHelper(t *testing.T, mode string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang bound
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = []string{helperEnv + "=" + mode}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v (%s)", mode, err, out)
	}
	if msg := strings.TrimSpace(string(out)); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// helperPrivPort is the helper side of both tests: with sysctl, in a
// network namespace of its own with ip_unprivileged_port_start 500, it
// binds 0.0.0.0:400, else 127.0.0.1:1, without CAP_NET_BIND_SERVICE, and
// prints the error.
func helperPrivPort(sysctl bool) int {
	runtime.LockOSThread() // capabilities and namespaces are per thread
	err := func() error {
		sp := configs.Socket{Name: "web", Host: "127.0.0.1", Port: 1}
		if sysctl {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare a network namespace (the test runs as root): %w", err)
			}
			if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("500"), 0); err != nil {
				return fmt.Errorf("set ip_unprivileged_port_start in the new namespace: %w", err)
			}
			sp = configs.Socket{Name: "web", Host: "0.0.0.0", Port: 400}
		}
		if err := dropBindCap(); err != nil {
			return err
		}
		if got := configs.UnprivilegedPortStart(); sysctl && got != 500 {
			return fmt.Errorf("UnprivilegedPortStart in the new namespace = %d, want 500", got)
		}
		s, err := Bind([]configs.Socket{sp})
		if err == nil {
			s.Close()
			err = fmt.Errorf("Bind of port %d succeeded without CAP_NET_BIND_SERVICE", sp.Port)
		}
		return err
	}()
	fmt.Println(err)
	return 0
}

// dropBindCap drops CAP_NET_BIND_SERVICE from the calling thread's
// effective set; the caller holds its OS thread locked and never unlocks
// it, so the thread exits with it.
func dropBindCap() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Effective &^= 1 << unix.CAP_NET_BIND_SERVICE
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
