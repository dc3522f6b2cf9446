package main

import (
	"net/http"
	"strings"
	"testing"
)

// A read-only caller watches; it does not get the secrets an operator put
// in a watcher's env. Neither a read-only API token nor a local user of
// arbiter.control_read_only reads env's values with options or get (the
// keys stay); an operator reads them as ever.
func TestReadOnlyCallersGetNoEnvValues(t *testing.T) {
	t.Parallel()
	f := newAPIFiles(t)
	p := startPooldAPIArbiter(t, f, `control_read_only = ["user:nobody"]`)
	ops, ro := readTokenFile(t, f.ops), readTokenFile(t, f.ro)
	const secret = "hunter2-db-password"
	if code, _, rep := apiRequest(t, p, "POST", "/api/v1/add", ops,
		`{"name":"sec","cmd":"sleep 3600","options":{"env":{"DB_PASSWORD":"`+secret+`"}}}`); code != http.StatusOK {
		t.Fatalf("add sec as an operator: %d %v", code, rep)
	}

	for _, c := range []struct{ command, body string }{
		{"options", `{"name":"sec"}`},
		{"get", `{"name":"sec","keys":["env"]}`},
	} {
		code, _, rep := apiRequest(t, p, "POST", "/api/v1/"+c.command, ro, c.body)
		env := envOf(rep)
		if code != http.StatusOK || env == nil || env["DB_PASSWORD"] != "(withheld from a read-only caller)" {
			t.Errorf("read-only token, %s: want env's key with its value withheld, got %d %v", c.command, code, rep)
		}
		if _, _, rep := apiRequest(t, p, "POST", "/api/v1/"+c.command, ops, c.body); envOf(rep)["DB_PASSWORD"] != secret {
			t.Errorf("operator token, %s: want env's value, got %v", c.command, rep)
		}
	}

	r := asUser(t, p, "65534", "65534", "", "get", "sec", "env")
	if r.code != 0 || strings.Contains(r.stdout, secret) || !strings.Contains(r.stdout, "DB_PASSWORD") {
		t.Errorf("nobody (control_read_only), get sec env: want the key without its value, got %v", r)
	}
	if r := p.local(t, "get", "sec", "env"); !strings.Contains(r.stdout, secret) {
		t.Errorf("root, get sec env: want the value, got %v", r)
	}
}

// envOf is a reply's options.env.
func envOf(rep map[string]any) map[string]any {
	opts, _ := rep["options"].(map[string]any)
	env, _ := opts["env"].(map[string]any)
	return env
}
