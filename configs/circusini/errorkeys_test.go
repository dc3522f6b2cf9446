package circusini

import (
	"fmt"
	"testing"
)

// TestHttpdErrorNamesIniKey: a real circus.ini's httpd_host = 0.0.0.0
// (common in Docker images) is refused by poold's console rules; the
// error names [circus] httpd_host at its line and a fix a circus.ini can
// make, not poold's web.address and TLS keys the file cannot hold.
func TestHttpdErrorNamesIniKey(t *testing.T) {
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\nhttpd = True\nhttpd_host = 0.0.0.0\nhttpd_port = 8080\n\n[watcher:w]\ncmd = /bin/sleep 100\n",
		`PATH:4: [circus] httpd_host: "0.0.0.0:8080" is not a loopback address: the console and its control API need TLS`)
	configError(t, "[circus]\nhttpd = True\nhttpd_host = 0.0.0.0\n\n[watcher:w]\ncmd = /bin/sleep 100\n",
		`PATH:3: [circus] httpd_host: "0.0.0.0:8080" is not a loopback address: the console and its control API need TLS and a token there: set tls_cert, tls_key and token in [circus] (poold keys, which Circus ignores), or set httpd_host = 127.0.0.1`)
}

// TestStreamFileErrorNamesIniKey: a FileStream whose directory does not
// exist is reported as the stream's filename option at its line, not as
// poold's stdout_log or stderr_log at the section's line.
func TestStreamFileErrorNamesIniKey(t *testing.T) {
	ini := "[watcher:w]\ncmd = /bin/sleep 100\nstderr_stream.class = FileStream\nstderr_stream.filename = /nonexistent/dropin/err.log\nstdout_stream.class = FileStream\nstdout_stream.filename = /nonexistent/dropin/out.log\n"
	configError(t, ini, "PATH:4: [watcher:w] stderr_stream.filename: directory /nonexistent/dropin of the log file is not writable")
	configError(t, ini, "PATH:6: [watcher:w] stdout_stream.filename: directory /nonexistent/dropin of the log file is not writable")
}

// TestAllowRemoteAsAdvised: the refusal of a non-loopback endpoint (a
// real circus.ini has endpoint = tcp://0.0.0.0:5309) advises
// "[circus] allow_remote = true"; a file that follows the advice loads.
func TestAllowRemoteAsAdvised(t *testing.T) {
	const ini = "[circus]\nendpoint = tcp://0.0.0.0:5309\n%s\n[watcher:w]\ncmd = /bin/sleep 100\n"
	configError(t, fmt.Sprintf(ini, ""), "PATH:2: [circus] endpoint: tcp://0.0.0.0:5309 is refused: it is not a loopback address and the control protocol has no authentication (anyone who can connect can run any command); use an ipc:// endpoint or a 127.0.0.1 address, or set [circus] allow_remote = true")
	cfg, _ := strictINI(t, fmt.Sprintf(ini, "allow_remote = true\n"))
	if !cfg.Arbiter.AllowRemote {
		t.Fatalf("allow_remote = true in [circus] left arbiter.allow_remote %v", cfg.Arbiter.AllowRemote)
	}
}
