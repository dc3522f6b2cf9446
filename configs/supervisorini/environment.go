package supervisorini

import (
	"fmt"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// envWordChars are the characters of a word in supervisord's environment
// lexer: Python's shlex.shlex defaults (non-POSIX mode) plus the
// '/.+-():' supervisor's datatypes.dict_of_key_value_pairs adds.
const envWordChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.+-():"

// envTokens splits s as Python's shlex.shlex(s) does in its default,
// non-POSIX mode, with envWordChars as word characters: a quoted string is
// one token that keeps its quotes and has no escapes (a backslash is a
// character like another), a quote inside a word is part of the word, '#'
// starts a comment to the end of the line (in a word, the word goes on
// after it), and any other character is a token by itself.
func envTokens(s string) ([]string, error) {
	var toks []string
	rs := []rune(s)
	skipLine := func(i int) int { // index of the character after the line's end
		for i < len(rs) && rs[i] != '\n' {
			i++
		}
		return i + 1
	}
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case strings.ContainsRune(" \t\r\n", c):
			i++
		case c == '#':
			i = skipLine(i)
		case c == '"' || c == '\'':
			end := i + 1
			for end < len(rs) && rs[end] != c {
				end++
			}
			if end == len(rs) {
				return nil, fmt.Errorf("no closing quotation (%c)", c)
			}
			toks = append(toks, string(rs[i:end+1]))
			i = end + 1
		case strings.ContainsRune(envWordChars, c):
			var w []rune
			for i < len(rs) {
				c = rs[i]
				if c == '#' {
					i = skipLine(i)
					continue
				}
				if !strings.ContainsRune(envWordChars, c) && c != '"' && c != '\'' {
					break
				}
				w = append(w, c)
				i++
			}
			toks = append(toks, string(w))
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks, nil
}

// parseEnvironment reads an environment= value (KEY="value",KEY2=value2)
// exactly as supervisord's dict_of_key_value_pairs does: the tokens of
// envTokens taken four at a time as KEY, '=', VALUE and a separator (not
// checked), quote characters stripped from both ends of VALUE, a repeated
// KEY keeping its first place and its last value. What supervisord refuses
// ("Unexpected end of key/value pairs") is an error.
func parseEnvironment(s string) ([]string, error) {
	toks, err := envTokens(s)
	if err != nil {
		return nil, fmt.Errorf("%v in '%s'; supervisord refuses it too", err, s)
	}
	var out []string
	at := map[string]int{}
	for i := 0; i < len(toks); i += 4 {
		if i+2 >= len(toks) || toks[i+1] != "=" {
			return nil, fmt.Errorf("unexpected end of key/value pairs at '%s' in '%s' (supervisord refuses it too: \"Unexpected end of key/value pairs\"); write KEY=\"value\",KEY2=\"value2\": supervisord has no escapes here, a value may hold a double quote only inside single quotes (C='say \"hi\" now'), and a comma, '=', '#' or blank only inside quotes",
				strings.Join(toks[i:], ""), s)
		}
		kv := toks[i] + "=" + strings.Trim(toks[i+2], `'"`)
		if j, dup := at[toks[i]]; dup {
			out[j] = kv
			continue
		}
		at[toks[i]] = len(out)
		out = append(out, kv)
	}
	return out, nil
}

// mergeEnv returns base with the KEY=VALUE pairs of over applied: a key
// already in base keeps its place and takes the new value.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range out {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// supervisorEnv is what supervisord puts in every program's environment
// before the program's own environment=: SUPERVISOR_ENABLED=1,
// SUPERVISOR_PROCESS_NAME (process_name, per worker) and
// SUPERVISOR_GROUP_NAME. exp expands the program's %(NAME)s expressions.
func (t *translator) supervisorEnv(out *translate.Section, s *translate.INISection, exp func(key, v string) string, group string) []string {
	pname, ok := s.Get("process_name")
	if !ok {
		pname = "%(program_name)s"
	}
	msg := "SUPERVISOR_ENABLED=1, SUPERVISOR_PROCESS_NAME and SUPERVISOR_GROUP_NAME are set as supervisord sets them; SUPERVISOR_SERVER_URL (set by supervisord when it serves HTTP) is not: poold serves no supervisord XML-RPC interface for supervisorctl or supervisor.childutils to reach"
	if strings.Contains(pname, "%(process_num)") {
		msg += "; SUPERVISOR_PROCESS_NAME numbers workers by $(pool.wid), from 1, not by process_num"
	}
	t.info(out, s, "", msg)
	return []string{
		"SUPERVISOR_ENABLED=1",
		"SUPERVISOR_PROCESS_NAME=" + strings.TrimSpace(exp("process_name", pname)),
		"SUPERVISOR_GROUP_NAME=" + group,
	}
}

// programEnv is the program's environment= as supervisord offers it to
// the program's other options (%(ENV_X)s): expanded without it, parsed;
// nil when it does not parse (programOption refuses it).
func (t *translator) programEnv(s *translate.INISection, sc scope) map[string]string {
	v, ok := s.Get("environment")
	if !ok {
		return nil
	}
	kvs, err := parseEnvironment(t.expand(s, "environment", v, sc))
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, val, _ := strings.Cut(kv, "=")
		m[k] = val
	}
	return m
}
