package circusini

import (
	"testing"

	"github.com/poold/poold/configs/translate"
	"github.com/poold/poold/configs/translate/translatetest"
)

// FuzzTranslate: any bytes, read as a file of this format, translate
// without a panic, and a translation that loads writes TOML that loads
// the same (translatetest.FuzzRoundTrip).
func FuzzTranslate(f *testing.F) {
	seeds := []string{"[circus]\ninclude = *.ini\n[watcher:a]\ncmd = sleep 1\nnumprocesses = 2\n[env:a]\nK = $(circus.env.HOME)\n", "[watcher:w]\ncmd = /bin/sh -c \"echo \\\"[x]\\\"; sleep 5\"\nwarmup_delay = 1e9\n[socket:s]\nhost = 127.0.0.1\nport = 0\n", "[watcher:A]\ncmd=x\n[watcher:a]\ncmd=y\n"}
	translatetest.FuzzRoundTrip(f, "fuzz.ini", seeds, func(path string) (*translate.Doc, error) {
		return Translate(path, []string{"HOME=/root", "PATH=/usr/bin:/bin"})
	})
}
