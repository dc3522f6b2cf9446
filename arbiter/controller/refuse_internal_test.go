package controller

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestRequestOfAClosedConnectionIsNotLoggedAsRoot: a request whose
// connection closed before its sender was looked up was refused and
// logged at WARN as "control request refused ... uid=0 pid=0", which
// reads as if root had been refused (16 times in a 25-minute soak). It
// is still refused, and logged for what it is.
func TestRequestOfAClosedConnectionIsNotLoggedAsRoot(t *testing.T) {
	var out bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
	c := New("ipc:///nonexistent/poold-refuse.sock", nil, log)
	acl, err := NewACL(nil, []string{"uid:65534"})
	if err != nil {
		t.Fatal(err)
	}
	c.acl.Store(acl)
	c.bound = c.endpoint
	_, _, refused, _ := c.refuse([]byte("gone-peer"), []byte(`{"id":"1","command":"incr","properties":{"name":"web"}}`))
	if !refused {
		t.Fatal("a request whose sender is unknown was let through")
	}
	logged := out.String()
	if strings.Contains(logged, "uid=0") || strings.Contains(logged, "[WARN]") {
		t.Errorf("logged as a refused root request:\n%s", logged)
	}
	if !strings.Contains(logged, "connection closed before") {
		t.Errorf("log does not say the connection closed:\n%s", logged)
	}
}
