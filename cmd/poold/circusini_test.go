package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// realPoold returns the real poold binary: $POOLD_BIN, or the one
// pooldBinary builds once for this test run. A build of its own here (with
// the test's CGO_ENABLED=1, which `make build` does not share) cost every
// run a second compile and link of poold.
func realPoold(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("POOLD_BIN"); p != "" {
		return p
	}
	return pooldBinary(t)
}

// circusSite prepares the environment the test circus.ini reads its paths
// from: a run directory with the after_spawn hook, a WSGI app, gunicorn,
// and this test binary as the Go worker.
func circusSite(t *testing.T) (env []string, runDir string) {
	t.Helper()
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gunicorn is not installed (Debian package gunicorn)")
		}
		t.Skip("gunicorn not installed")
	}
	runDir = t.TempDir()
	app := "import os\ndef app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('gunicorn pid %d' % os.getpid()).encode()]\n"
	hook := "#!/bin/sh\necho \"$1 $POOLD_HOOK $POOLD_WATCHER $POOLD_WID $POOLD_PID\" >> \"$(dirname \"$0\")/hooks.log\"\n"
	for name, text := range map[string]string{"app.py": app, "hook.sh": hook} {
		if err := os.WriteFile(filepath.Join(runDir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env = append(os.Environ(), "RUN_DIR="+runDir, "GUNICORN="+gunicorn, "APP_DIR="+runDir,
		"WORKER="+os.Args[0], "SITE_OWNER=alice")
	return env, runDir
}

// runBin runs the real poold to completion.
func runBin(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(realPoold(t), args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// TestCircusINIServes runs a Circus configuration (with an included file,
// [env:NAME], $VAR and $(circus.*) variables and a command hook) under the
// real poold binary, directly and converted to TOML, and checks that
// gunicorn and a Go worker serve HTTP on the sockets it names.
func TestCircusINIServes(t *testing.T) {
	env, runDir := circusSite(t)
	ini, err := filepath.Abs("../../configs/circusini/testdata/site/site.ini")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runBin(t, env, "--check", ini)
	if code != 0 || !strings.Contains(out, "ok (2 sockets, 2 watchers)") {
		t.Fatalf("--check %s: exit %d\n%s%s", ini, code, out, errs)
	}
	toml, errs, code := runBin(t, env, "convert", ini)
	if code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, errs)
	}
	for _, want := range []string{`stdout_log = "` + runDir + `/web-access.log"`, "log_max_size = 1048576", "log_keep = 2"} {
		if !strings.Contains(toml, want) {
			t.Errorf("converted output lacks %q:\n%s", want, toml)
		}
	}
	converted := filepath.Join(runDir, "poold.toml")
	if err := os.WriteFile(converted, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := runBin(t, env, "--check", converted); code != 0 {
		t.Fatalf("--check of the converted file: exit %d\n%s%s\n%s", code, out, errs, toml)
	}
	for _, cfg := range []string{ini, converted} {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			os.Remove(filepath.Join(runDir, "hooks.log"))
			os.Remove(filepath.Join(runDir, "web-access.log"))
			serveCircusSite(t, env, cfg, runDir)
		})
	}
}

// startRealPoold starts the real poold binary on cfg, with env (nil:
// this binary's), until the test ends; as launchPoold does, it gives it a
// parent-death signal, and kills what it started if it still runs then.
func startRealPoold(t *testing.T, env []string, dir, cfg string) *proc {
	t.Helper()
	cmd := exec.Command(realPoold(t), cfg)
	cmd.Env = env
	return launchCmd(t, cmd, dir, cfg, nil)
}

func serveCircusSite(t *testing.T, env []string, cfg, runDir string) {
	p := startRealPoold(t, env, runDir, cfg)
	addrs := map[string]string{}
	for _, m := range p.waitLog(`socket bound: socket=(\S+) address=(\S+)`, 2) {
		addrs[m[1]] = m[2]
	}
	var body string
	proctest.Eventually(t, "gunicorn answers on socket web", func() bool {
		b, err := get("http://" + addrs["web"] + "/")
		body = b
		return err == nil
	})
	if !strings.HasPrefix(body, "gunicorn pid ") {
		t.Errorf("web answered %q", body)
	}
	// stdout_stream.class = FileStream: gunicorn's access log line for
	// that request is in the file, not in poold's log.
	accessLog := filepath.Join(runDir, "web-access.log")
	proctest.Eventually(t, "the web watcher's stdout reaches "+accessLog, func() bool {
		b, _ := os.ReadFile(accessLog)
		return strings.Contains(string(b), `"GET / HTTP/1.1" 200`)
	})
	if strings.Contains(p.log.String(), `"GET / HTTP/1.1" 200`) {
		t.Errorf("the access log line also reached poold's own log")
	}
	proctest.Eventually(t, "the Go worker answers on socket api", func() bool {
		b, err := get("http://" + addrs["api"] + "/env")
		body = b
		return err == nil
	})
	for _, want := range []string{"GREETING=hi alice", "SITE=demo", "POOLD_WATCHER=api"} {
		if !strings.Contains(body+"\n", want+"\n") {
			t.Errorf("api worker env lacks %q:\n%s", want, body)
		}
	}
	proctest.Eventually(t, "the after_spawn hook ran for each api worker", func() bool {
		b, _ := os.ReadFile(filepath.Join(runDir, "hooks.log"))
		return strings.Count(string(b), "spawned after_spawn api ") == 3
	})
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestConvertSupervisord converts a supervisord file; the result passes
// --check, and --strict refuses what does not map, naming section and key.
func TestConvertSupervisord(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(conf, []byte(`[supervisord]
nodaemon = true
logfile = /var/log/supervisord.log

[program:worker]
command = /bin/sleep 3600 %(process_num)s
process_name = %(program_name)s_%(process_num)02d
numprocs = 3
numprocs_start = 1
directory = /tmp
environment = A="1",B="two words",C=plain
startsecs = 2
startretries = 4
autorestart = unexpected
stopsignal = INT
stopwaitsecs = 7
priority = 100
stdout_logfile = %(here)s/worker.log
stdout_logfile_maxbytes = 10MB
stdout_logfile_backups = 3
redirect_stderr = true
stdout_syslog = true

[fcgi-program:php]
command = /bin/sleep 3600
socket = tcp://127.0.0.1:0
`), 0o644)
	toml, errs, code := runBin(t, os.Environ(), "convert", conf)
	if code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		`cmd = "/bin/sleep 3600 $(pool.wid)"`, `numprocesses = 3`, `env = ["SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=worker_$(pool.wid)", "SUPERVISOR_GROUP_NAME=worker", "A=1", "B=two words", "C=plain"]`,
		`readiness = "delay"`, `ready_delay = "2s"`, `flapping_attempts = 5`, `stop_signal = "INT"`,
		`graceful_timeout = "7s"`, `priority = 899`, `sockets = ["php"]`,
		`stdout_log = "` + dir + `/worker.log"`, `stderr_log = "` + dir + `/worker.log"`,
		"log_max_size = 10485760", "log_keep = 3", "NOT MAPPED: [program:worker] stdout_syslog",
	} {
		if !strings.Contains(toml, want) {
			t.Errorf("converted output lacks %q:\n%s", want, toml)
		}
	}
	if !strings.Contains(errs, conf+":3: [supervisord] logfile:") {
		t.Errorf("stderr lacks the logfile warning:\n%s", errs)
	}
	converted := filepath.Join(dir, "poold.toml")
	os.WriteFile(converted, []byte(toml), 0o644)
	if out, errs, code := runBin(t, os.Environ(), "--check", converted); code != 0 {
		t.Fatalf("--check of the converted file: exit %d\n%s%s\n%s", code, out, errs, toml)
	}
	_, errs, code = runBin(t, os.Environ(), "convert", "--strict", conf)
	if code != 1 || !strings.Contains(errs, "[program:worker] stdout_syslog: no poold equivalent") {
		t.Errorf("convert --strict: exit %d, want 1 naming the key:\n%s", code, errs)
	}
}

// A Circus file is detected by content whatever its name; --strict turns
// each option without an equivalent into an error naming section and key;
// convert refuses a file that is neither Circus nor supervisord.
func TestCircusDetectionAndStrict(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "site.conf")
	os.WriteFile(conf, []byte(`[circus]
endpoint = ipc://`+dir+`/c.sock
pubsub_endpoint = ipc://`+dir+`/e.sock
stats_endpoint = ipc://`+dir+`/s.sock
pidfile = /run/circus.pid

[watcher:sleeper]
cmd = /bin/sleep 3600
copy_path = true
`), 0o644)
	out, errs, code := runBin(t, os.Environ(), "--check", conf)
	if code != 0 || !strings.Contains(out, "ok (0 sockets, 1 watcher)") {
		t.Fatalf("--check: exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{conf + ":5: [circus] pidfile: poold runs in the foreground", conf + ":9: [watcher:sleeper] copy_path:"} {
		if !strings.Contains(errs, "poold: warning: "+want) {
			t.Errorf("--check stderr lacks %q:\n%s", want, errs)
		}
	}
	_, errs, code = runBin(t, os.Environ(), "--check", "--strict", conf)
	if code != exitConfig || !strings.Contains(errs, "[circus] pidfile") || !strings.Contains(errs, "[watcher:sleeper] copy_path") || !strings.Contains(errs, "--strict") {
		t.Errorf("--check --strict: exit %d, want 78 naming both keys:\n%s", code, errs)
	}
	toml := filepath.Join(dir, "x.toml")
	os.WriteFile(toml, []byte("[watchers.a]\ncmd = \"/bin/true\"\n"), 0o644)
	if _, errs, code := runBin(t, os.Environ(), "convert", toml); code != 1 || !strings.Contains(errs, "is neither a Circus file (first section [circus], [watcher:NAME], [socket:NAME], [env], [env:NAMES] or [plugin:NAME])") {
		t.Errorf("convert of a TOML file: exit %d:\n%s", code, errs)
	}
}

// SIGHUP re-reads and re-translates a circus.ini: a new numprocesses and
// a new [env:NAME] value take effect.
func TestCircusINIReload(t *testing.T) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "circus.ini")
	write := func(n int, greeting string) {
		text := fmt.Sprintf(`[circus]
endpoint = ipc://%[1]s/c.sock
pubsub_endpoint = ipc://%[1]s/e.sock
stats_endpoint = ipc://%[1]s/s.sock

[watcher:sleeper]
cmd = /bin/sleep 3600
numprocesses = %[2]d

[env:sleeper]
GREETING = %[3]s
`, dir, n, greeting)
		if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "hello")
	p := startRealPoold(t, nil, dir, ini)
	p.waitLog(`poold started`, 1)
	c := dialControl(t, p)
	pids := func() int {
		r := call(t, c, "list", map[string]any{"name": "sleeper"})
		l, _ := r["pids"].([]any)
		return len(l)
	}
	proctest.Eventually(t, "one worker", func() bool { return pids() == 1 })
	write(3, "bonjour")
	p.signal(syscall.SIGHUP)
	proctest.Eventually(t, "three workers after SIGHUP", func() bool { return pids() == 3 })
	r := call(t, c, "get", map[string]any{"name": "sleeper", "keys": []any{"env"}})
	if !strings.Contains(fmt.Sprint(r), "GREETING") || !strings.Contains(fmt.Sprint(r), "bonjour") {
		t.Errorf("env after reload: %v", r)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
