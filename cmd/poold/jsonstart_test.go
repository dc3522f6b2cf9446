package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestJSONLogStartWarningsAndFatalError: with a JSON log, the config's
// warnings at start and the error poold exited with were plain text
// ("poold: warning: ...", "poold: sockets: ..."), so a pipeline parsing
// poold's log as JSON lost the line that mattered most. Every line on
// stderr is now a JSON record, whether the flag or the file asks for
// JSON.
func TestJSONLogStartWarningsAndFatalError(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	body := func(format string) string {
		return "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"ipc://" + dir + "/e.sock\"\nstats_endpoint = \"ipc://" + dir + "/s.sock\"\n" + format +
			"[sockets.web]\nhost = \"127.0.0.1\"\nport = " + strconv.Itoa(busy.Addr().(*net.TCPAddr).Port) + "\n" +
			"[watchers.go]\ncmd = \"sleep 100\"\nenv = [\"DB_PASSWORD=hunter2\"]\n"
	}
	flagged := filepath.Join(dir, "flag.toml")
	inFile := filepath.Join(dir, "file.toml")
	for path, text := range map[string]string{flagged: body(""), inFile: body("log_format = \"json\"\n")} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil { // world-readable: a warning
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"--log-format", "json", flagged}, {inFile}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runBin(t, os.Environ(), args...)
			if code != 1 {
				t.Errorf("exit %d, want 1 (the port is taken)", code)
			}
			var warned, failed bool
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("stderr line is not JSON: %q", line)
					continue
				}
				w, _ := rec["warning"].(string)
				e, _ := rec["error"].(string)
				switch {
				case rec["@level"] == "warn" && strings.Contains(w, "secrets"):
					warned = true
				case rec["@level"] == "error" && strings.Contains(e, "sockets.web: bind") && rec["exit_status"] == float64(1):
					failed = true
				}
			}
			if !warned || !failed {
				t.Errorf("stderr:\n%s\nwant a warn record about secrets and an error record naming sockets.web with exit_status 1", stderr)
			}
		})
	}
}
