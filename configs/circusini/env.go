package circusini

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// circusVarRE matches $(circus.X) and ((circus.X)), X made of word
// characters, '.' and '-', any case: what Circus's replace_gnu_args
// replaces.
var circusVarRE = regexp.MustCompile(`(?i)\$\(circus\.([\w.\-]+)\)|\(\(circus\.([\w.\-]+)\)\)`)

// expandCircusEnv replaces $(circus.env.NAME) with NAME's value in env,
// matching NAME without regard to case (Circus lower-cases both sides),
// as Circus does when it reads a config value. Other variables
// ($(circus.wid), $(circus.sockets.web)) and unknown names are left for
// poold to expand per worker.
func expandCircusEnv(s string, env map[string]string) string {
	if !strings.Contains(strings.ToLower(s), "circus.") {
		return s
	}
	lower := make(map[string]string, len(env))
	for k, v := range env {
		lower[strings.ToLower(k)] = v
	}
	return circusVarRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := circusVarRE.FindStringSubmatch(m)
		x := sub[1]
		if x == "" {
			x = sub[2]
		}
		name, ok := strings.CutPrefix(strings.ToLower(x), "env.")
		if !ok {
			return m
		}
		if v, found := lower[name]; found {
			return v
		}
		return m
	})
}

// dollarRE is what Circus's parse_env_dict expands in an env value: $
// then an upper-case name (letters, then letters, digits, '_').
var dollarRE = regexp.MustCompile(`\$([A-Z]+[A-Z0-9_]*)`)

// expandDollar expands $NAME in an env value from environ as Circus does
// when it loads a watcher: only upper-case names, no ${NAME} form, and an
// unset name becomes empty. Surrounding blanks are trimmed.
func expandDollar(v string, environ map[string]string) string {
	return strings.TrimSpace(dollarRE.ReplaceAllStringFunc(v, func(m string) string {
		return environ[m[1:]]
	}))
}

// warnUnsetDollar warns of each $NAME in the env value v (option key of
// section s) that the environment poold reads the file in does not set:
// it becomes empty, as under Circus, which says nothing of it, while an
// unset $(circus.env.NAME) gets a warning.
func (t *translator) warnUnsetDollar(s *translate.INISection, key, v string) {
	seen := map[string]bool{}
	for _, m := range dollarRE.FindAllStringSubmatch(v, -1) {
		name := m[1]
		if _, set := t.environ[name]; set || seen[name] {
			continue
		}
		seen[name] = true
		t.warn(t.doc.Section("arbiter"), s, key, fmt.Sprintf("refers to $%s, which is not set in the environment poold reads the file in, so it becomes empty (as under Circus); set %s before poold starts, or write the value here", name, name))
	}
}

// environMap turns KEY=VALUE strings into a map, the first of a name
// winning as for os.Getenv.
func environMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}
