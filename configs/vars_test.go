package configs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"wid":         "3",
		"name":        "web",
		"sockets.web": "4",
		"env.HOME":    "/home/u",
		"working_dir": "/srv",
	}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"$(pool.wid)", "3"},
		{"$(circus.wid)", "3"},
		{"((pool.wid))", "3"},
		{"((circus.wid))", "3"},
		{"fd://$(pool.sockets.web)", "fd://4"},
		{"fd://$(pool.sockets.WEB)", "fd://4"}, // socket names are case-insensitive
		{"$(pool.env.HOME)/x", "/home/u/x"},
		{"$(pool.env.home)", "$(pool.env.home)"}, // env keys keep their case
		{"$(pool.name)-$(pool.wid)@$(pool.working_dir)", "web-3@/srv"},
		{"$(pool.unknown) stays", "$(pool.unknown) stays"},
		{"$(other.wid)", "$(other.wid)"},
		{"$HOME and ${HOME} and $(HOME)", "$HOME and ${HOME} and $(HOME)"},
		{"$$(pool.wid)", "$3"},
		{"(pool.wid)", "(pool.wid)"},
		{"$(pool.wid", "$(pool.wid"},
		{"a$(pool.wid)b((pool.wid))c$VAR", "a3b3c$VAR"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, vars); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSocketNames(t *testing.T) {
	all := []Socket{{Name: "admin"}, {Name: "api"}, {Name: "metrics"}, {Name: "web"}}
	tests := []struct {
		name string
		w    Watcher
		want []string
	}{
		{"none", Watcher{Cmd: "x"}, nil},
		{"explicit order kept", Watcher{Sockets: []string{"web", "admin"}}, []string{"web", "admin"}},
		{"then referenced, in order of appearance", Watcher{
			Cmd:     "srv --a $(pool.sockets.metrics)",
			Args:    []string{"((circus.sockets.api))", "$(pool.sockets.web)"},
			Sockets: []string{"web"},
		}, []string{"web", "metrics", "api"}},
		{"env references count too", Watcher{Env: []string{"FD=$(pool.sockets.admin)"}}, []string{"admin"}},
		{"use_sockets adds the rest sorted", Watcher{Sockets: []string{"web"}, Args: []string{"$(pool.sockets.metrics)"}, UseSockets: true},
			[]string{"web", "metrics", "admin", "api"}},
		{"no duplicates, case-insensitive", Watcher{Sockets: []string{"Web", "web"}, Args: []string{"$(pool.sockets.WEB)"}}, []string{"web"}},
		{"unknown names skipped", Watcher{Sockets: []string{"nope", "api"}}, []string{"api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, tt.w.SocketNames(all)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	keys := WatcherOptionKeys()
	tests := map[string]string{
		"numprocess":   "numprocesses",
		"numprocs":     "numprocesses",
		"copyenv":      "copy_env",
		"workingdir":   "working_dir",
		"stop-signal":  "stop_signal",
		"backoff":      "", // ambiguous: backoff_min, backoff_max, backoff_reset
		"colour":       "",
		"id":           "", // uid or gid
		"graceful":     "graceful_timeout",
		"use_socket":   "use_sockets",
		"environment":  "",
		"warmup_delay": "warmup_delay",
	}
	for in, want := range tests {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}
