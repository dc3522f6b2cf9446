package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
)

// Each request reaches poold with who sent it, for the log line of a
// command that changes something: uid, gid and pid over ipc (whether or
// not access rules are set), the address over tcp.
func TestRequestsCarryTheirSender(t *testing.T) {
	who := func(ctx context.Context, raw []byte) ([]byte, bool) {
		req, _ := arbiter.DecodeRequest(raw)
		b, _ := json.Marshal(arbiter.OK(req.ID, map[string]any{"command": req.Command, "caller": arbiter.CallerFrom(ctx)}))
		return b, true
	}
	for _, c := range []struct{ ep, want string }{
		{ipcEndpoint(t), fmt.Sprintf("uid %d gid %d pid %d (%s)", os.Getuid(), os.Getgid(), os.Getpid(), comm(t))},
		{"tcp://127.0.0.1:0", "tcp 127.0.0.1:"},
	} {
		s := serve(t, c.ep, who, nil)
		if got := fmt.Sprint(mustStatus(t, dial(t, s.ep), "incr")["caller"]); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: caller %q, want %q", c.ep, got, c.want)
		}
	}
}

func comm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
