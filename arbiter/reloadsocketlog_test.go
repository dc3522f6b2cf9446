package arbiter

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/sockets"
)

// TestReloadLogsSocketAddresses (r59b net L5): a reload that moved or
// removed a socket logged only "sockets: updated aok"; neither the new
// address nor the old one's close was in the log. Each change is now
// logged with its address, and each old socket's close once, when its
// closeRemoved runs.
func TestReloadLogsSocketAddresses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.sock")
	s, err := sockets.Bind([]configs.Socket{
		{Name: "a", Host: "127.0.0.1"},
		{Name: "u", Path: path, Backlog: 10, ReplaceStale: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, _ := s.Get("a")
	before := s.List()
	closeRemoved, err := s.Apply([]configs.Socket{
		{Name: "u", Path: path, Backlog: 20, ReplaceStale: true},
		{Name: "c", Host: "127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info})
	closeRemoved = logSocketChanges(log, before, s.List(), closeRemoved)
	c, _ := s.Get("c")
	for _, want := range []string{
		"socket bound by config reload: socket=c address=" + c.Addr(),
		"socket changed in place by config reload: socket=u address=" + path,
		"socket leaving by config reload: it closes once the workers that use it have stopped: socket=a address=" + a.Addr(),
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	for range 2 {
		if err := closeRemoved(); err != nil {
			t.Fatal(err)
		}
	}
	closed := "socket closed: a config reload replaced or removed it: socket=a address=" + a.Addr()
	if n := strings.Count(buf.String(), closed); n != 1 {
		t.Errorf("%q logged %d times, want once:\n%s", closed, n, buf.String())
	}
}
