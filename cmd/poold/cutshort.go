package main

import (
	"os"
	"path/filepath"
	"strings"
)

// cutShort tells whether the config file at path (n bytes) does not end
// in a newline, as a write cut short by a full disk leaves it (the cut
// falls on a page boundary, nearly never at a line's end), while editors
// and generators end a TOML, YAML or INI file with one. Such a file may
// still parse and would then be applied as it reads: a reload warns. JSON
// is left out: json.dump and the like write no final newline.
func cutShort(path string) (n int64, cut bool) {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return 0, false
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, false
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil {
		return 0, false
	}
	return st.Size(), last[0] != '\n'
}
