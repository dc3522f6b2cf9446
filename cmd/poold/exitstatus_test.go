package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExitStatusTellsConfigFromTransient: poold exited 1 for a config
// that could never load and for a port another process held for a
// moment, and 2 for bad usage as for a Go runtime crash, so a service
// manager could not stop restarting on the first without stopping on the
// second (systemd's RestartPreventExitStatus=). The statuses now follow
// sysexits: 78 a config error, 64 bad usage, 1 a start-up failure that
// may pass.
func TestExitStatusTellsConfigFromTransient(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	endpoints := "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"ipc://" + dir + "/e.sock\"\nstats_endpoint = \"ipc://" + dir + "/s.sock\"\n"
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	syntax := write("syntax.toml", "[watchers.web\ncmd = \"sleep\"\n")
	invalid := write("invalid.toml", endpoints+"[watchers.web]\ncmd = \"sleep 100\"\nnumprocesses = -2\n")
	noProgram := write("noprogram.toml", endpoints+"[watchers.web]\ncmd = \"/nonexistent/app\"\n")
	good := write("good.toml", endpoints+"[watchers.web]\ncmd = \"sleep 100\"\nautostart = false\n")
	taken := write("taken.toml", endpoints+"[sockets.web]\nhost = \"127.0.0.1\"\nport = "+strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)+"\n")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want int
		says string
	}{
		{"syntax error", nil, []string{syntax}, 78, "syntax.toml"},
		{"invalid value", nil, []string{invalid}, 78, "watchers.web.numprocesses"},
		{"missing file", nil, []string{filepath.Join(dir, "none.toml")}, 78, "no such file"},
		{"--check refuses", nil, []string{"--check", noProgram}, 78, "watchers.web.cmd"},
		{"--check syntax error", nil, []string{"--check", syntax}, 78, "syntax.toml"},
		{"bad grace period", []string{graceEnv + "=soon"}, []string{good}, 78, graceEnv},
		{"unknown flag", nil, []string{"--bogus", good}, 64, "-bogus"},
		{"no config", nil, nil, 64, "CONFIG"},
		{"bad log format", nil, []string{"--log-format", "xml", good}, 64, "--log-format"},
		{"port in use", nil, []string{taken}, 1, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBin(t, append(os.Environ(), tc.env...), tc.args...)
			if code != tc.want || !strings.Contains(stderr, tc.says) {
				t.Errorf("poold %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), code, stderr, tc.want, tc.says)
			}
		})
	}
}
