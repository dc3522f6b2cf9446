package circusini

import (
	"regexp"
	"strings"
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
