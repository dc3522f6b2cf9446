package configs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A token file written by a Windows editor starts with a byte order
// mark, which was kept as part of the token: poolctl then sent a token
// that matched none of poold's (each try counted as a guess). The mark
// is dropped now, and a character that cannot be meant (a space or tab
// inside, a non-ASCII letter) is an error naming the file.
func TestReadTokenFile(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ name, text, want, err string }{
		{"plain", tok + "\n", tok, ""},
		{"crlf", tok + "\r\n", tok, ""},
		{"bom", "\uFEFF" + tok + "\r\n", tok, ""},
		{"inner space", "0123456789 abcdef0123456789abcdef\n", "", `character " " at byte 10`},
		{"non-ascii", "0123456789abcdéf0123456789abcdef\n", "", `character "é" at byte 14`},
		{"short", "abc\n", "", "token is 3 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ops.token")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadTokenFile(path)
			switch {
			case tc.err == "" && (err != nil || got != tc.want):
				t.Errorf("ReadTokenFile = %q, %v; want %q", got, err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), path)):
				t.Errorf("ReadTokenFile = %q, %v; want an error naming %s and saying %q", got, err, path, tc.err)
			}
		})
	}
}

// TestReadTokenFileMissingOrDirectory: a token file that does not exist
// read "stat PATH: no such file or directory", saying nothing of what to
// do; a directory was called "readable by others; chmod 600 it", advice
// that would lock everyone out of /tmp. Each now says what is wrong.
func TestReadTokenFileMissingOrDirectory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "ops.token")
	_, err := ReadTokenFile(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "stat ") ||
		!strings.Contains(err.Error(), missing+": no such file or directory: write the token there") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTokenFile(dir)
	if err == nil || strings.Contains(err.Error(), "chmod") || !strings.Contains(err.Error(), dir+" is a directory: name the file that holds the token") {
		t.Errorf("directory: %v", err)
	}
}
