package circusini

import (
	"os"
	"testing"
)

// TestDefaultSectionFirst: a circus.ini that begins with [DEFAULT] is a
// Circus file (circusd runs it); poold told it from no known format and
// refused it. Its defaults reach the watchers as in Circus.
func TestDefaultSectionFirst(t *testing.T) {
	const file = "testdata/defaultfirst.ini"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !Detect(data) {
		t.Fatalf("%s is not detected as a Circus file", file)
	}
	environ := testEnviron(t)
	cws, _ := realCircus(t, file, environ)
	cfg := translated(t, file, environ)
	if len(cfg.Watchers) != 1 || len(cws) != 1 {
		t.Fatalf("poold has %d watchers, Circus %d", len(cfg.Watchers), len(cws))
	}
	compareWatcher(t, cws[0], cfg.Watchers[0], environMap(environ))
}
