package circusini

import (
	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// poolKey takes key k of section s, an option Circus has no case for,
// when it is a key of poold's own for sections of kind sec ("watchers",
// "arbiter", "web" or "sockets"): a circus.ini may then use a poold
// feature (failure_action, readiness, max_surge, ...) without being
// converted. The value is parsed as that key's type
// (configs.TextValue), and then decoded and validated as in a TOML
// file, its errors naming this file, section and key. It reports
// whether k was such a key.
func (t *translator) poolKey(out *translate.Section, s *translate.INISection, sec, k, v string) bool {
	val, ok := configs.TextValue(sec, k, v)
	if !ok {
		return false
	}
	out.Set(k, val)
	t.info(out, s, k, "a poold key (Circus ignores it), as in poold's own files")
	return true
}
