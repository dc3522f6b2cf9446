package configs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// exitCodes decodes a list of exit statuses (0..255): a list of integers,
// one integer, or numbers separated by commas or blanks (an environment
// override, or `poolctl set NAME no_respawn_exit_codes 3,4`, which sends
// a string; its 3 sends a number). Duplicates are dropped and the list
// is sorted.
func (d *decoder) exitCodes(key string, raw any) ([]int, bool) {
	var items []any
	switch x := raw.(type) {
	case []any:
		items = x
	case []int64:
		for _, i := range x {
			items = append(items, i)
		}
	case []int:
		for _, i := range x {
			items = append(items, i)
		}
	case envValue:
		for _, w := range codeWords(x.text) {
			items = append(items, envValue{name: x.name, text: w})
		}
	case string:
		for i, w := range codeWords(x) {
			n, err := strconv.ParseInt(w, 10, 64)
			if err != nil {
				d.bad(fmt.Sprintf("%s[%d]", key, i), raw, "must be an integer, got %q (in %q); give exit statuses separated by commas, e.g. \"3,4\"", w, x)
				return nil, false
			}
			items = append(items, n)
		}
	default:
		if _, one := asInt(raw); one {
			items = []any{raw}
			break
		}
		d.bad(key, raw, "must be a list of exit statuses (integers 0 to 255): a number, numbers separated by commas (\"3,4\") or a list ([3, 4]), got %s", describe(raw))
		return nil, false
	}
	var out []int
	ok := true
	for i, e := range items {
		k := fmt.Sprintf("%s[%d]", key, i)
		n, isInt := d.integer(k, e)
		switch {
		case !isInt:
			ok = false
		case n < 0 || n > 255:
			d.bad(k, e, "must be an exit status between 0 and 255, got %d", n)
			ok = false
		case !slices.Contains(out, int(n)):
			out = append(out, int(n))
		}
	}
	slices.Sort(out)
	return out, ok
}

// codeWords splits a string of exit statuses at commas and blanks.
func codeWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}
