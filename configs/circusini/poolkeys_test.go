package circusini

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// poolKeysINI sets poold's own keys, which Circus has no case for, in
// each kind of section: a Circus user adds one poold feature to a
// circus.ini and expects it to work, not to be dropped with the
// unknown-option warning.
const poolKeysINI = `[circus]
log_format = json
event_history = 50
read_only = yes

[socket:web]
path = /tmp/poolkeys-test.sock
owner = 0
mode = 0600

[watcher:db]
cmd = /bin/sleep 100

[watcher:web]
cmd = /bin/sleep 100
numprocesses = 4
failure_action = exit
readiness = http
ready_url = http://127.0.0.1:8000/healthz
ready_min = 50%
max_surge = 2
depends_on = db
no_respawn_exit_codes = 0 3
log_json = yes
nice = 5
max_rss = 512M
hook_timeout = 2.5
`

// TestPoolKeysInINI: each poold key loads, with no warning (--strict),
// as the same key of a TOML file would; and poold convert writes a TOML
// file that loads to the same configuration.
func TestPoolKeysInINI(t *testing.T) {
	cfg, doc := strictINI(t, poolKeysINI)
	var web configs.Watcher
	for _, w := range cfg.Watchers {
		if w.Name == "web" {
			web = w
		}
	}
	if web.FailureAction != "exit" || web.Readiness != "http" || web.ReadyURL != "http://127.0.0.1:8000/healthz" ||
		web.ReadyMin != (configs.ReadyMin{N: 50, Percent: true}) || web.MaxSurge != configs.SurgeOf(2) ||
		!reflect.DeepEqual(web.DependsOn, []string{"db"}) || !reflect.DeepEqual(web.NoRespawnExitCodes, []int{0, 3}) ||
		!web.Logs.JSON || web.Nice == nil || *web.Nice != 5 || web.MaxRSS != 512<<20 || web.HookTimeout.Seconds() != 2.5 {
		t.Errorf("poold keys in [watcher:web] not taken: %+v", web)
	}
	if cfg.Arbiter.LogFormat != "json" || cfg.Arbiter.EventHistory != 50 || !cfg.Web.ReadOnly {
		t.Errorf("poold keys in [circus] not taken: %+v %+v", cfg.Arbiter, cfg.Web)
	}
	if len(cfg.Sockets) != 1 || cfg.Sockets[0].Owner != "0" || cfg.Sockets[0].Mode != 0o600 {
		t.Errorf("poold keys in [socket:web] not taken: %+v", cfg.Sockets)
	}
	noted := false
	for _, n := range doc.Notes {
		noted = noted || n.Level == translate.Info && n.Section == "watcher:web" && n.Key == "failure_action" && strings.Contains(n.Msg, "a poold key (Circus ignores it)")
	}
	if !noted {
		t.Errorf("no note says failure_action is poold's: %v", doc.Notes)
	}

	var b strings.Builder
	if err := doc.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := configs.Load(path)
	if err != nil {
		t.Fatalf("converted file does not load: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(back.Watchers, cfg.Watchers) || !reflect.DeepEqual(back.Arbiter, cfg.Arbiter) || !reflect.DeepEqual(back.Sockets, cfg.Sockets) {
		t.Errorf("converted file loads otherwise:\n%+v\nwant\n%+v\n%s", back.Watchers, cfg.Watchers, b.String())
	}
}

// TestPoolKeyErrorsNameIniKey: a poold key's value is validated as in a
// TOML file, the error naming file, line, section and key.
func TestPoolKeyErrorsNameIniKey(t *testing.T) {
	configError(t, "[watcher:w]\ncmd = /bin/sleep 100\nfailure_action = bogus\n",
		`PATH:3: [watcher:w] failure_action: must be "none" (stay failed) or "exit"`)
	configError(t, "[watcher:w]\ncmd = /bin/sleep 100\nmax_surge = lots\n",
		`PATH:3: [watcher:w] max_surge: `)
	configError(t, "[watcher:w]\ncmd = /bin/sleep 100\nnice = high\n",
		`PATH:3: [watcher:w] nice: must be an integer, got string "high"`)
	configError(t, "[circus]\nevent_history = -1\n\n[watcher:w]\ncmd = /bin/sleep 100\n",
		`PATH:2: [circus] event_history: must be between 0 and`)
	// Circus's own keys keep their Circus meaning, and a misspelt poold
	// key is told the key it looks like.
	_, doc := translateINI(t, "[watcher:w]\ncmd = /bin/sleep 100\nreadines = tcp\n")
	if !hasNote(doc.Notes, translate.Warn, "readines", `did you mean "readiness"?`) {
		t.Errorf("no hint for a misspelt poold key: %v", doc.Notes)
	}
}

// TestHttpdTLSAsAdvised: the refusal of httpd_host = 0.0.0.0 advises
// tls_cert, tls_key and token in [circus]; a file that follows the
// advice loads, the console on TLS.
func TestHttpdTLSAsAdvised(t *testing.T) {
	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	cfg, _ := strictINI(t, "[circus]\nhttpd = True\nhttpd_host = 0.0.0.0\ntls_cert = "+cert+"\ntls_key = "+key+"\ntoken = 0123456789abcdef0123456789abcdef\n\n[watcher:w]\ncmd = /bin/sleep 100\n")
	if cfg.Web.TLSCert != cert || cfg.Web.TLSKey != key || cfg.Web.Address != "0.0.0.0:8080" {
		t.Errorf("web %+v", cfg.Web)
	}
}
