package launch

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReadMark: the mark as a /proc/PID/environ shows it; the first of a
// name counts, as for getenv, and a malformed POOLD_STARTED_BY names no
// poold.
func TestReadMark(t *testing.T) {
	env := func(kv ...string) []byte { return []byte(strings.Join(kv, "\x00") + "\x00") }
	cases := []struct {
		name    string
		environ []byte
		want    Mark
	}{
		{"a worker's", env("A=1", "POOLD_WID=2", "POOLD_WATCHER=web", "POOLD_CONFIG_ID=0123456789abcdef", "POOLD_STARTED_BY=812:4242"),
			Mark{ConfigID: "0123456789abcdef", Pid: 812, Start: 4242, Worker: true}},
		{"the first counts", env("POOLD_CONFIG_ID=aa", "POOLD_STARTED_BY=1:2", "POOLD_CONFIG_ID=bb", "POOLD_STARTED_BY=3:4"),
			Mark{ConfigID: "aa", Pid: 1, Start: 2}},
		{"malformed", env("POOLD_CONFIG_ID=aa", "POOLD_STARTED_BY=812", "POOLD_WATCHER=web"), Mark{ConfigID: "aa"}},
		{"none", nil, Mark{}},
	}
	for _, c := range cases {
		if got := ReadMark(c.environ); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestBuildMarksTheWorker: every worker's environment carries the mark,
// whether it takes LISTEN_FDS or passes its sockets in its arguments.
func TestBuildMarksTheWorker(t *testing.T) {
	mark := MarkEnv("0123456789abcdef", 812, 4242)
	for _, spec := range []configs.Watcher{
		{Name: "web", Cmd: "/bin/sleep", Args: []string{"1"}},
		{Name: "fd", Cmd: "/bin/sleep", Args: []string{"$(circus.sockets.web)"}, Sockets: []string{"web"}},
	} {
		c, err := Build(spec, Handoff{FDs: map[string]int{"web": 3}, Mark: mark}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ReadMark([]byte(strings.Join(c.Env, "\x00")))
		if want := (Mark{ConfigID: "0123456789abcdef", Pid: 812, Start: 4242, Worker: true}); got != want {
			t.Errorf("watcher %s: mark %+v, want %+v (env %q)", spec.Name, got, want, c.Env)
		}
	}
}
