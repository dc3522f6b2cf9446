package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// nice, oom_score_adj and chroot are checked alike in TOML, YAML and JSON
// files and in add and set options, each problem named with its key.
func TestProcessAttributesBad(t *testing.T) {
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"bad_process.toml", []string{
			"watchers.a.nice: must be between -20 and 19 (the niceness, as nice(1) and systemd's Nice=), got 20",
			"watchers.a.oom_score_adj: must be between -1000 and 1000, got -1001",
			"watchers.a.chroot: /nonexistent/poold/jail: no such file or directory (give an existing directory)",
			`watchers.b.nice: must be an integer, got string "high"`,
			`watchers.b.chroot: "relative/jail" must be an absolute path to a directory`,
			"watchers.c.chroot: /etc/hostname is not a directory",
		}},
		{"bad_process.yaml", []string{
			"watchers.a.nice: must be between -20 and 19",
			"watchers.a.oom_score_adj: must be between -1000 and 1000, got 1001",
			"watchers.a.chroot: /nonexistent/poold/jail: no such file or directory",
		}},
		{"bad_process.json", []string{
			"watchers.a.nice: must be an integer, got number 1.5",
			"watchers.a.oom_score_adj: must be between -1000 and 1000, got 2000",
			"watchers.a.chroot: must be a string, got number 7",
		}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%s", w, err)
				}
			}
			if len(ce.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d:\n%s", len(ce.Problems), len(tt.want), err)
			}
		})
	}
}

func TestProcessAttributesOptions(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", nil, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := ApplyOptions(base, map[string]any{"nice": 5.0, "oom_score_adj": "300", "chroot": dir}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	got := WatcherOptions(w)
	if got["nice"] != 5 || got["oom_score_adj"] != 300 || got["chroot"] != dir {
		t.Errorf("options after set: nice %v, oom_score_adj %v, chroot %v", got["nice"], got["oom_score_adj"], got["chroot"])
	}
	// "" sets them back to inheriting poold's.
	back, err := ApplyOptions(w, map[string]any{"nice": "", "oom_score_adj": nil, "chroot": ""}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(base, back); d != "" {
		t.Errorf("unset (-want +got):\n%s", d)
	}
	if o := WatcherOptions(base); o["nice"] != "" || o["oom_score_adj"] != "" || o["chroot"] != "" {
		t.Errorf("defaults in wire form: nice %q, oom_score_adj %q, chroot %q; want \"\" (inherit)", o["nice"], o["oom_score_adj"], o["chroot"])
	}
	// Clone does not share the values.
	c := w.Clone()
	*c.Nice = 1
	if *w.Nice != 5 {
		t.Error("Clone shares Nice")
	}
	for _, tt := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"nice": -30.0}, "nice: must be between -20 and 19"},
		{map[string]any{"oom_score_adj": 1e4}, "oom_score_adj: must be between -1000 and 1000, got 10000"},
		{map[string]any{"chroot": filepath.Join(dir, "nope")}, "chroot: " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{map[string]any{"nice": true}, "nice: must be an integer, got boolean true"},
	} {
		got, err := ApplyOptions(w, tt.opts, testSockets)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ApplyOptions(%v) = %v, want an error containing %q", tt.opts, err, tt.want)
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("watcher changed on error (-want +got):\n%s", d)
		}
		if _, err := WatcherFromOptions("x", "/bin/app", tt.opts, testSockets); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("WatcherFromOptions(%v) = %v, want an error containing %q", tt.opts, err, tt.want)
		}
	}
}

// working_dir is a directory inside the chroot.
func TestChrootWorkingDir(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := WatcherFromOptions("x", "/bin/app", map[string]any{"chroot": root, "working_dir": "/srv"}, nil); err != nil {
		t.Errorf("working_dir /srv inside the chroot: %v", err)
	}
	_, err := WatcherFromOptions("x", "/bin/app", map[string]any{"chroot": root, "working_dir": "/usr"}, nil)
	if err == nil || !strings.Contains(err.Error(), "working_dir: /usr: no such file or directory") {
		t.Errorf("working_dir /usr, not inside the chroot: %v", err)
	}
}

func TestInitGroups(t *testing.T) {
	if got, _ := initGroups(Account{UID: 42}, 42, true); !cmp.Equal(got, []uint32{42}) {
		t.Errorf("no user: %v", got)
	}
}
