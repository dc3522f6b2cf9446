package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/web"
)

// warnHeld is poold --check's word on the addresses of cfg (path) that
// some process holds now, each one a start would fail on: --check binds
// nothing, so it reads /proc for a socket there and names its holder.
// A warning, not a problem: the holder may be gone by the start.
// A poold running this very file holds them all, as it should: then
// --check (before a poolctl reloadconfig, say) says that once instead.
// So it does when a poold running another file holds this one's control
// endpoint (a copy edited before it is put in place, checked first):
// "stop that process" is wrong advice to one who means to reload it.
// A poold holding some of its addresses but not that one is another
// project's, and gets the warnings.
func warnHeld(path string, cfg *configs.Config, stdout io.Writer) {
	var lines, pooldKeys []string
	pooldPid := 0
	for i, a := range boundAddresses(cfg) {
		hint, pids := sockets.HeldHint(a.network, a.addr, a.todo)
		if i == 0 && len(pids) == 1 && runsFile(pids[0], path) {
			fmt.Fprintf(stdout, "%s: note: pid %d, a poold running this file, holds its addresses; poolctl reloadconfig applies the file to it\n", path, pids[0])
			return
		}
		if i == 0 && a.key == "arbiter.endpoint" {
			pooldPid = pooldAmong(pids)
		}
		if hint == "" {
			continue
		}
		if pooldPid != 0 && slices.Contains(pids, pooldPid) {
			pooldKeys = append(pooldKeys, a.key)
			continue
		}
		lines = append(lines, fmt.Sprintf("%s: warning: %s: %s is taken now (%s); a start would fail on it\n", path, a.key, a.shown, hint))
	}
	if pooldPid != 0 {
		fmt.Fprintf(stdout, "%s: note: pid %d (%s), a running poold, holds %d of the addresses of this file (%s): "+
			"if this file is to replace the one that poold runs, put it in its place and run poolctl reloadconfig, which applies it there; "+
			"a second poold started on this file would fail on them: give it addresses of its own\n",
			path, pooldPid, holderCommand(pooldPid), len(pooldKeys), strings.Join(pooldKeys, ", "))
	}
	for _, l := range lines {
		io.WriteString(stdout, l)
	}
}

// pooldAmong is the poold among pids, the holders of an address (a
// poold and the workers that inherited its socket), or 0: a process
// whose executable is named poold (poold.test too).
func pooldAmong(pids []int) int {
	for _, pid := range pids {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.HasPrefix(filepath.Base(strings.TrimSuffix(exe, " (deleted)")), "poold") {
			return pid
		}
	}
	return 0
}

// holderCommand is the command line of process pid, its arguments joined
// by spaces and cut at 120 bytes; "?" when /proc does not tell.
func holderCommand(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if err != nil || s == "" {
		return "?"
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// runsFile: the command line of process pid names the file at path (as
// an argument, relative to its working directory or absolute).
func runsFile(pid int, path string) bool {
	abs, err1 := filepath.Abs(path)
	cmdline, err2 := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	cwd, err3 := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	for _, arg := range args[min(1, len(args)):] {
		if !filepath.IsAbs(arg) {
			arg = filepath.Join(cwd, arg)
		}
		if filepath.Clean(arg) == abs {
			return true
		}
	}
	return false
}

// boundAddress is one address a start of poold binds.
type boundAddress struct {
	key, shown    string // the config key, and its address as the config gives it
	network, addr string // "tcp" host:port, or "unix" and a path
	todo          string // what to do when it is taken
}

// boundAddresses lists what a start binds: poold's endpoints, its HTTP
// listeners and the [sockets] (but those that share a port on purpose,
// reuseport, or take one the kernel chooses).
func boundAddresses(cfg *configs.Config) []boundAddress {
	var out []boundAddress
	for _, ep := range []struct{ key, value string }{
		{"arbiter.endpoint", cfg.Arbiter.Endpoint}, {"arbiter.pubsub_endpoint", cfg.Arbiter.PubSubEndpoint}, {"arbiter.stats_endpoint", cfg.Arbiter.StatsEndpoint},
	} {
		network, addr := "tcp", strings.TrimPrefix(ep.value, "tcp://")
		if path, ok := strings.CutPrefix(ep.value, "ipc://"); ok {
			network, addr = "unix", path
		}
		out = append(out, boundAddress{ep.key, ep.value, network, addr, inUseTodo(ep.key)})
	}
	if cfg.Web.Enabled {
		addr := web.ConsoleAddress(cfg.Web)
		out = append(out, boundAddress{"web.address", addr, "tcp", addr, inUseTodo("web.address")})
	}
	if a := cfg.Web.MetricsAddress; a != "" {
		out = append(out, boundAddress{"web.metrics_address", a, "tcp", a, inUseTodo("web.metrics_address")})
	}
	for _, s := range cfg.Sockets {
		todo := "stop that process or choose another port"
		switch {
		case s.ReusePort:
		case s.Path != "" && !strings.HasPrefix(s.Path, "@"):
			out = append(out, boundAddress{"sockets." + s.Name, s.Path, "unix", s.Path, "stop that process or choose another path"})
		case s.Path == "" && s.Port != 0:
			addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
			out = append(out, boundAddress{"sockets." + s.Name, addr, "tcp", addr, todo})
		}
	}
	return out
}
