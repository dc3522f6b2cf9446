package configs

import (
	"fmt"
	"slices"
	"strings"
)

// exitCodes decodes a list of exit statuses (0..255): a list of integers,
// or, in an environment override, numbers separated by blanks or commas.
// Duplicates are dropped and the list is sorted.
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
		for _, w := range strings.FieldsFunc(x.text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			items = append(items, envValue{name: x.name, text: w})
		}
	default:
		d.bad(key, raw, "must be a list of exit statuses (integers 0 to 255), got %s", describe(raw))
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
