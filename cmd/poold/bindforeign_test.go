package main

import (
	"net"
	"os"
	"strings"
	"testing"
)

// TestBusyEndpointOfForeignFileAdvisesItsTerms: a taken endpoint of a
// circus.ini or supervisord file advised "change arbiter.stats_endpoint",
// a key neither file has. A circus.ini is told its [circus] option; a
// supervisord file, which has none, the POOLD_ variable that sets it.
func TestBusyEndpointOfForeignFileAdvisesItsTerms(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := "tcp://" + busy.Addr().String()
	t.Run("circus", func(t *testing.T) {
		dir := t.TempDir()
		conf := "[circus]\nendpoint = ipc://" + dir + "/c.sock\npubsub_endpoint = ipc://" + dir + "/e.sock\nstats_endpoint = " + addr + "\n\n[watcher:w]\ncmd = /bin/sleep 100\n"
		path := dir + "/circus.ini"
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBin(t, os.Environ(), path)
		if code != 1 || !strings.Contains(stderr, "[circus] stats_endpoint: bind "+addr) || !strings.Contains(stderr, "change [circus] stats_endpoint") || strings.Contains(stderr, "arbiter.") {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming [circus] stats_endpoint", code, stderr)
		}
	})
	t.Run("supervisord", func(t *testing.T) {
		dir := t.TempDir()
		path := dir + "/supervisord.conf"
		if err := os.WriteFile(path, []byte("[program:w]\ncommand=/bin/sleep 100\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := append(os.Environ(), "POOLD_ARBITER_ENDPOINT=ipc://"+dir+"/c.sock", "POOLD_ARBITER_PUBSUB_ENDPOINT=ipc://"+dir+"/e.sock", "POOLD_ARBITER_STATS_ENDPOINT="+addr)
		_, stderr, code := runBin(t, env, path)
		if code != 1 || !strings.Contains(stderr, "arbiter.stats_endpoint: bind "+addr) || !strings.Contains(stderr, "set POOLD_ARBITER_STATS_ENDPOINT") {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1 advising POOLD_ARBITER_STATS_ENDPOINT", code, stderr)
		}
	})
}
