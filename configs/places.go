package configs

import (
	"fmt"
	"os"
	"strings"
)

// NotifyDirFix is what to do when poold cannot make the directory of its
// workers' notify sockets (readiness "notify", scale_busy_target): it is
// made in os.TempDir(), which TMPDIR moves. Not in the runtime directory:
// that one is closed to other users, and workers often run as another
// (the container example's as nobody) and must reach their socket.
func NotifyDirFix() string {
	return fmt.Sprintf("poold makes its workers' NOTIFY_SOCKET in TMPDIR (now %s): mount a writable volume there (an emptyDir at /tmp in Kubernetes, as configs/container/kubernetes.yaml does), "+
		"or set TMPDIR in poold's environment to a writable directory other users may search", os.TempDir())
}

// notifyKey is the key that makes watcher w need a notify socket, "" for none.
func notifyKey(w Watcher) string {
	switch {
	case w.Readiness == "notify":
		return "watchers." + w.Name + ".readiness"
	case w.ScaleBusyTarget > 0:
		return "watchers." + w.Name + ".scale_busy_target"
	}
	return ""
}

// PlaceProblems, for --check, names what of this machine would keep
// cfg from starting that poold can know beforehand: a runtime directory
// (of the default endpoints) it could not make or write, and for watchers
// with notify sockets a TMPDIR it could not write. It changes nothing.
func PlaceProblems(file string, cfg *Config) error {
	ps := &problems{}
	dir := RuntimeDir()
	for _, ep := range []struct{ key, addr string }{
		{"arbiter.endpoint", cfg.Arbiter.Endpoint},
		{"arbiter.pubsub_endpoint", cfg.Arbiter.PubSubEndpoint},
		{"arbiter.stats_endpoint", cfg.Arbiter.StatsEndpoint},
	} {
		if strings.HasPrefix(ep.addr, "ipc://"+dir+"/") {
			if err := CheckRuntimeDir(dir); err != nil {
				ps.add(ep.key, "%s (the default of %s)", strings.TrimPrefix(err.Error(), "configs: "), ep.key)
			}
			break
		}
	}
	tmpErr := CheckRuntimeDir(os.TempDir())
	for _, w := range cfg.Watchers {
		if key := notifyKey(w); key != "" && tmpErr != nil {
			ps.add(key, "cannot make the notify socket of watcher %q: %s is not writable; %s", w.Name, os.TempDir(), NotifyDirFix())
		}
	}
	return ps.err(file)
}
