package circusini

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestPluginHintRunsAsGiven: the warning for a Circus plugin gives a
// circus-plugin command line whose --config Circus itself reads back as
// the section's options, and the ini's own endpoints. It used to suggest
// --config key=value, which circus-plugin skips without a word.
func TestPluginHintRunsAsGiven(t *testing.T) {
	doc, err := Translate("testdata/django.ini", testEnviron(t))
	if err != nil {
		t.Fatal(err)
	}
	var hint string
	for _, n := range doc.Warnings() {
		if strings.Contains(n.String(), "[plugin:statsd]") {
			hint = n.String()
		}
	}
	m := regexp.MustCompile(`circus-plugin --endpoint (\S+) --pubsub (\S+) --config '([^']*)' circus\.plugins\.statsd\.StatsdEmitter`).FindStringSubmatch(hint)
	if m == nil {
		t.Fatalf("statsd warning %q: want a circus-plugin command line", hint)
	}
	if !strings.HasPrefix(m[1], "tcp://127.0.0.1:") || m[1] == m[2] {
		t.Errorf("endpoints %s and %s: want the ini's own", m[1], m[2])
	}
	cmd := exec.Command("/usr/bin/python3", "-c", "import json, sys; from circus.plugins import _str2cfg; print(json.dumps(_str2cfg(sys.argv[1])))", m[3])
	cmd.Env = []string{"PYTHONPATH=" + circusPeer(t)}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Circus's _str2cfg: %v", err)
	}
	var cfg map[string]string
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["host"] != "localhost" || cfg["port"] != "8125" {
		t.Errorf("Circus reads --config %q as %v, want host localhost and port 8125", m[3], cfg)
	}
}
