package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestBusyEndpointNamesItsKey: poold refuses to start when one of its
// ZeroMQ endpoints is taken, naming the key that holds it. The stats
// stream used to be reported as pubsub_endpoint.
func TestBusyEndpointNamesItsKey(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, key := range []string{"endpoint", "pubsub_endpoint", "stats_endpoint"} {
		t.Run(key, func(t *testing.T) {
			dir := t.TempDir()
			eps := map[string]string{
				"endpoint":        "ipc://" + dir + "/c.sock",
				"pubsub_endpoint": "ipc://" + dir + "/e.sock",
				"stats_endpoint":  "ipc://" + dir + "/s.sock",
			}
			eps[key] = "tcp://" + busy.Addr().String()
			conf := "[arbiter]\n"
			for k, v := range eps {
				conf += k + " = \"" + v + "\"\n"
			}
			path := dir + "/poold.toml"
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			named := "arbiter." + key // as the error names it
			_, stderr, code := runBin(t, os.Environ(), path)
			if code != 1 || !strings.Contains(stderr, named+": bind tcp://"+busy.Addr().String()) || !strings.Contains(stderr, "change "+named) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming %s and the fix", code, stderr, key)
			}
			if strings.Contains(stderr, "gtcp") {
				t.Errorf("stderr shows the guard's internal scheme:\n%s", stderr)
			}
		})
	}
}

// TestRefusedStartDoesNotSayStarted: poold logged "poold started" before
// its arbiter bound the sockets, so a start refused for a busy port read
// as a start, then an error. The line now comes once the arbiter runs.
func TestRefusedStartDoesNotSayStarted(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	port := busy.Addr().(*net.TCPAddr).Port
	conf := "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"ipc://" + dir + "/e.sock\"\nstats_endpoint = \"ipc://" + dir + "/s.sock\"\n" +
		"[sockets.web]\nhost = \"127.0.0.1\"\nport = " + strconv.Itoa(port) + "\n"
	path := dir + "/poold.toml"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runBin(t, os.Environ(), path)
	if code != 1 || !strings.Contains(stderr, "sockets.web: bind 127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming sockets.web", code, stderr)
	}
	if strings.Contains(stderr, "poold started") {
		t.Errorf("a refused start logged that poold started:\n%s", stderr)
	}
}

// TestBusyListenerNamesFileAndHolder: a taken port of one of poold's own
// endpoints or listeners is reported as a taken socket port is: the
// config file, the key, the address once, the system's reason, and the
// process that holds the port. It read "control endpoint: controller:
// arbiter.endpoint: bind tcp://A: listen tcp A: bind: address already
// in use; the address is in use: ..." (the console's "web: listen on A:
// listen tcp A: bind: ..."), naming neither the file nor the holder.
func TestBusyListenerNamesFileAndHolder(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	for _, tc := range []struct{ key, endpoint, web string }{
		{"arbiter.endpoint", "endpoint", ""},
		{"arbiter.pubsub_endpoint", "pubsub_endpoint", ""},
		{"web.address", "", "[web]\nenabled = true\naddress = \"" + addr + "\"\n"},
		{"web.metrics_address", "", "[web]\nmetrics_address = \"" + addr + "\"\n"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			dir := t.TempDir()
			eps := map[string]string{"endpoint": "ipc://" + dir + "/c.sock", "pubsub_endpoint": "ipc://" + dir + "/e.sock", "stats_endpoint": "ipc://" + dir + "/s.sock"}
			if tc.endpoint != "" {
				eps[tc.endpoint] = "tcp://" + addr
			}
			conf := "[arbiter]\n"
			for k, v := range eps {
				conf += k + " = \"" + v + "\"\n"
			}
			conf += tc.web
			path := dir + "/poold.toml"
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := runBin(t, os.Environ(), path)
			want := path + ": " + tc.key + ": bind " + addr
			if strings.HasSuffix(tc.key, "endpoint") {
				want = path + ": " + tc.key + ": bind tcp://" + addr
			}
			for _, w := range []string{want + ": address already in use (", "pid " + strconv.Itoa(os.Getpid()) + " (", "holds it; stop that process"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("exit %d, stderr:\n%s\nlacks %q", code, stderr, w)
				}
			}
			var errLine string // poold's error, not its log lines
			for _, l := range strings.Split(stderr, "\n") {
				if strings.HasPrefix(l, "poold: ") {
					errLine = l
				}
			}
			for _, noise := range []string{"listen tcp", "the address is in use", "controller:", "zmqpub:"} {
				if strings.Contains(errLine, noise) {
					t.Errorf("stderr:\n%s\nrepeats itself or shows a package's name: %q", stderr, noise)
				}
			}
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
		})
	}
}

// TestBusyIPCEndpointNamesHolder: an ipc endpoint whose socket file
// another process listens on (most often a second poold on the default
// endpoints) read "bind ipc://P: another poold is already listening on
// ipc://P; stop it or choose another endpoint", without saying which
// process; it names the file, the key and the holder now.
func TestBusyIPCEndpointNamesHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	held := dir + "/s.sock"
	l, err := net.Listen("unix", held)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	conf := "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"ipc://" + dir + "/e.sock\"\nstats_endpoint = \"ipc://" + held + "\"\n"
	path := dir + "/poold.toml"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runBin(t, os.Environ(), path)
	want := path + ": arbiter.stats_endpoint: bind ipc://" + held + ": another poold is already listening there (pid " + strconv.Itoa(os.Getpid()) + " ("
	if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "holds it; stop that process or change arbiter.stats_endpoint)") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
}
