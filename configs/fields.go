// The field tables that map a section's keys onto struct fields.

package configs

import (
	"math"
	"slices"
	"sort"
	"time"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// field describes one key of a section: how to decode a raw value into T
// and how to render it in wire form (control-protocol options).
type field[T any] struct {
	key    string
	decode func(d *decoder, key string, raw any, dst *T)
	wire   func(src *T) any
	list   bool // its value is a list of strings (syntaxhint.go)
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func stringField[T any](key string, p func(*T) *string) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			if s, ok := d.str(k, raw); ok {
				*p(dst) = s
			}
		},
		wire: func(src *T) any { return *p(src) },
	}
}

// intField accepts integers in [lo, hi].
func intField[T any](key string, p func(*T) *int, lo, hi int64) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			i, ok := d.integer(k, raw)
			switch {
			case !ok:
			case i < lo && hi == math.MaxInt32:
				d.bad(k, raw, "must be >= %d, got %d", lo, i)
			case i < lo || i > hi:
				d.bad(k, raw, "must be between %d and %d, got %d", lo, hi, i)
			default:
				*p(dst) = int(i)
			}
		},
		wire: func(src *T) any { return *p(src) },
	}
}

func boolField[T any](key string, p func(*T) *bool) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			if b, ok := d.boolean(k, raw); ok {
				*p(dst) = b
			}
		},
		wire: func(src *T) any { return *p(src) },
	}
}

// durationField accepts durations >= 0, or > 0 when positive.
func durationField[T any](key string, p func(*T) *time.Duration, positive bool) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			dur, ok := d.duration(k, raw)
			switch {
			case !ok:
			case positive && dur <= 0:
				d.bad(k, raw, "must be a positive duration, got %s", describeDuration(raw, dur))
			case dur < 0:
				d.bad(k, raw, "must not be negative, got %s", describeDuration(raw, dur))
			default:
				*p(dst) = dur
			}
		},
		wire: func(src *T) any { return p(src).Seconds() },
	}
}

func describeDuration(raw any, dur time.Duration) string {
	if _, ok := raw.(string); ok {
		return describe(raw)
	}
	return dur.String()
}

func listField[T any](key string, p func(*T) *[]string) field[T] {
	return field[T]{key: key, list: true,
		decode: func(d *decoder, k string, raw any, dst *T) {
			if l, ok := d.strList(k, raw); ok {
				*p(dst) = emptyNil(l)
			}
		},
		wire: func(src *T) any { return nonNil(*p(src)) },
	}
}

// emptyNil makes "no entries" always nil, so equal configs compare equal.
func emptyNil(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return slices.Clone(l)
}

// decodeSection decodes the table raw into dst field by field and returns
// the keys present. Unknown keys are problems that suggest the closest
// known key, or list the valid ones.
func decodeSection[T any](d *decoder, prefix string, raw any, fields []field[T], dst *T) map[string]bool {
	present := map[string]bool{}
	if raw == nil {
		return present // an empty section
	}
	m, ok := raw.(map[string]any)
	if !ok {
		d.bad(prefix, raw, "must be a table of keys, got %s", describe(raw))
		return present
	}
	for _, k := range sortedKeys(m) {
		full := joinKey(prefix, k)
		i := slices.IndexFunc(fields, func(f field[T]) bool { return f.key == k })
		if i < 0 {
			d.bad(full, m[k], "%s", unknownKeyMsg(k, fieldKeys(fields), d.fromFile))
			continue
		}
		present[k] = true
		fields[i].decode(d, full, m[k], dst)
	}
	return present
}

func fieldKeys[T any](fields []field[T]) []string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	sort.Strings(keys)
	return keys
}

// exitCodesField accepts a list of exit statuses, 0 to 255 (in an
// environment override: numbers separated by blanks or commas). Empty is
// nil, so equal configs compare equal.
func exitCodesField[T any](key string, p func(*T) *[]int) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			if l, ok := d.exitCodes(k, raw); ok {
				*p(dst) = l
			}
		},
		wire: func(src *T) any {
			if *p(src) == nil {
				return []int{}
			}
			return slices.Clone(*p(src))
		},
	}
}
