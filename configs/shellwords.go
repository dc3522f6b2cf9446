package configs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SplitCommand breaks a command line into words the way a POSIX shell
// splits simple words, and nothing more: blanks separate words, '...' is
// literal, "..." keeps blanks and honours \" \\ \$ \`, and a backslash outside
// quotes escapes the next character. Nothing is expanded ($VAR, globs, ~
// stay as written) and no shell runs. A watcher's cmd and health_cmd are
// split this way, so a path containing spaces must be quoted.
func SplitCommand(cmd string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside a word
		quote rune // 0, '\'' or '"'
		esc   bool
	)
	for _, r := range cmd {
		switch {
		case esc:
			if quote == '"' && !strings.ContainsRune("\\\"$`\n", r) {
				cur.WriteRune('\\')
			}
			if r != '\n' { // backslash-newline joins lines
				cur.WriteRune(r)
				in = true
			}
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc = true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	switch {
	case esc:
		return nil, errors.New("command ends with a lone backslash")
	case quote != 0:
		return nil, fmt.Errorf("command has an unterminated %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("empty command")
	}
	return words, nil
}

// plainWord is a word a POSIX shell reads as written.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// QuoteCommand joins words into one line that a POSIX shell, and
// SplitCommand, split back into the same words: a word with anything but
// letters, digits and _@%+=:,./- goes in single quotes. This is how
// circusd builds the line it hands /bin/sh -c for shell = true, so $VAR,
// globs, pipes and redirections in cmd or args stay literal there too.
func QuoteCommand(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if plainWord.MatchString(w) {
			out[i] = w
		} else {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
