package sockets

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// TestPrivilegedPort binds port 1 without CAP_NET_BIND_SERVICE. When the
// test runs as root it drops that capability on one locked OS thread
// (capabilities are per thread), which then dies with the goroutine.
func TestPrivilegedPort(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n <= 1 {
			t.Skipf("this kernel lets every user bind port 1 (ip_unprivileged_port_start = %d)", n)
		}
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with its reduced capabilities
		if err := dropBindCap(); err != nil {
			errc <- err
			return
		}
		s, err := Bind([]configs.Socket{{Name: "web", Host: "127.0.0.1", Port: 1}})
		if err == nil {
			s.Close()
			err = errors.New("Bind of port 1 succeeded without CAP_NET_BIND_SERVICE")
		}
		errc <- err
	}()
	err := <-errc
	start := configs.UnprivilegedPortStart()
	wantErr(t, err, fmt.Sprintf("sockets: web: bind 127.0.0.1:1: permission denied (ports below %d (sysctl net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE", start))
}

// TestPrivilegedPortNamesTheSysctl (r56b nonroot, finding 5): the
// message named 1024 whatever net.ipv4.ip_unprivileged_port_start said.
// On one locked OS thread in a network namespace of its own (the sysctl
// is per namespace, and /proc/sys/net is the opening thread's), the
// sysctl is set to 500, and port 400 bound without CAP_NET_BIND_SERVICE:
// the refusal names 500.
func TestPrivilegedPortNamesTheSysctl(t *testing.T) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare a network namespace (the test runs as root): %w", err)
			return
		}
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("500"), 0); err != nil {
			errc <- fmt.Errorf("set ip_unprivileged_port_start in the new namespace: %w", err)
			return
		}
		if err := dropBindCap(); err != nil {
			errc <- err
			return
		}
		if got := configs.UnprivilegedPortStart(); got != 500 {
			errc <- fmt.Errorf("UnprivilegedPortStart in the new namespace = %d, want 500", got)
			return
		}
		s, err := Bind([]configs.Socket{{Name: "web", Host: "0.0.0.0", Port: 400}})
		if err == nil {
			s.Close()
			err = errors.New("Bind of port 400 succeeded without CAP_NET_BIND_SERVICE under ip_unprivileged_port_start 500")
		}
		errc <- err
	}()
	err := <-errc
	wantErr(t, err, "sockets: web: bind 0.0.0.0:400: permission denied (ports below 500 (sysctl net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE; grant poold that capability or choose a port >= 500")
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
