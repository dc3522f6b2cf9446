// Package tokenfile reads a bearer token from its file, the way poold
// reads web.api_tokens and poolctl reads --token-file, so both refuse the
// same files with the same words.
package tokenfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// MinLen is the shortest API token accepted (e.g. 32 hex digits from
// `openssl rand -hex 16`).
const MinLen = 16

// Read reads a token file: its first line, trimmed (a UTF-8
// byte order mark too, as Windows editors write one). The file must not be
// readable by group or others, and the token must be printable ASCII
// without spaces: it travels in an HTTP header, and a character an
// editor slipped in would make a token that never matches.
func Read(path string) (string, error) {
	fi, err := os.Stat(path)
	var pe *fs.PathError
	switch {
	case errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s: %w: write the token there (e.g. openssl rand -hex 24 > %s; chmod 600 %s) or name the file that holds it", path, pe.Err, path, path)
	case errors.As(err, &pe):
		return "", fmt.Errorf("%s: %w", path, pe.Err)
	case err != nil:
		return "", err
	case fi.IsDir():
		return "", fmt.Errorf("%s is a directory: name the file that holds the token", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s is readable by others (mode %04o); chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // names path
	}
	tok, _, _ := strings.Cut(strings.TrimPrefix(string(b), "\uFEFF"), "\n")
	tok = strings.TrimSpace(tok)
	if i := strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }); i >= 0 {
		return "", fmt.Errorf("%s: the token has a character %q at byte %d; write it as printable ASCII without spaces (e.g. openssl rand -hex 24 > %s)", path, tok[i:i+utf8.RuneLen([]rune(tok[i:])[0])], i, path)
	}
	if len(tok) < MinLen {
		return "", fmt.Errorf("%s: token is %d characters, want at least %d (e.g. openssl rand -hex 16 > %s)", path, len(tok), MinLen, path)
	}
	return tok, nil
}
