package supervisorini

import (
	"testing"

	"github.com/poold/poold/configs/translate"
	"github.com/poold/poold/configs/translate/translatetest"
)

// FuzzTranslate: any bytes, read as a file of this format, translate
// without a panic, and a translation that loads writes TOML that loads
// the same (translatetest.FuzzRoundTrip).
func FuzzTranslate(f *testing.F) {
	seeds := []string{"[supervisord]\n[program:a]\ncommand = sleep 1\nnumprocs = 2\nprocess_name = %(program_name)s_%(process_num)02d\nenvironment = A=\"1,2\",B=3\n", "[program:x]\ncommand=/bin/sh -c \"echo [y]\"\nstartsecs=-1\nstopwaitsecs=99999999999999999\n", "[include]\nfiles = *.conf\n[program:b]\ncommand=true\n"}
	translatetest.FuzzRoundTrip(f, "fuzz.ini", seeds, func(path string) (*translate.Doc, error) {
		return Translate(path, []string{"HOME=/root", "PATH=/usr/bin:/bin"})
	})
}
