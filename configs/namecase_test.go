package configs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWatcherNamesKeepTheirCase: [watchers.MyApp] is a watcher named
// MyApp, in every format, as circusd names the watcher of
// [watcher:MyApp]; the reader lower-cased it to myapp, so status and
// stats keyed it "myapp" where a client looked up "MyApp" (r65 protocol
// F4). Socket names stay lower-case (circusd lower-cases them), and
// depends_on, sockets and POOLD_* overrides still find a name by any case.
func TestWatcherNamesKeepTheirCase(t *testing.T) {
	files := map[string]string{
		"poold.toml": "[sockets.Front]\nport = 0\n[watchers.MyApp]\ncmd = \"sleep 1\"\nsockets = [\"front\"]\ndepends_on = [\"DB\"]\n[watchers.db]\ncmd = \"sleep 1\"\n",
		"poold.yaml": "sockets:\n  Front: {port: 0}\nwatchers:\n  MyApp: {cmd: sleep 1, sockets: [front], depends_on: [DB]}\n  db: {cmd: sleep 1}\n",
		"poold.json": `{"sockets": {"Front": {"port": 0}}, "watchers": {"MyApp": {"cmd": "sleep 1", "sockets": ["front"], "depends_on": ["DB"]}, "db": {"cmd": "sleep 1"}}}`,
	}
	t.Setenv("POOLD_WATCHERS_MYAPP_NUMPROCESSES", "3")
	for file, content := range files {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), file)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, w := range cfg.Watchers {
				names = append(names, w.Name)
			}
			if len(names) != 2 || names[0] != "db" || names[1] != "MyApp" {
				t.Errorf("watchers %q, want [db MyApp] (db first: MyApp depends on it)", names)
			}
			if w := cfg.Watchers[len(cfg.Watchers)-1]; w.NumProcesses != 3 {
				t.Errorf("MyApp numprocesses %d, want 3 from POOLD_WATCHERS_MYAPP_NUMPROCESSES", w.NumProcesses)
			}
			if len(cfg.Sockets) != 1 || cfg.Sockets[0].Name != "front" {
				t.Errorf("sockets %+v, want one named front", cfg.Sockets)
			}
		})
	}
}
