// Values written as text, in a file format that has no types (the INI of
// a circus.ini), for poold's own keys.

package configs

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// TextValue is text, the value an INI file gives key of a section of
// kind sec ("arbiter", "web", "sockets" or "watchers"), as a TOML file
// would hold it: parsed as the key's type, as a POOLD_* environment
// override is (a list is a JSON array or whitespace-separated words, a
// table a JSON object), a boolean also in INI's words (yes, no, on, off).
// The value then goes through the same decoding and validation as the
// key of a TOML file. A text that does not parse as the key's type comes
// back as the number it looks like or as the string it is, so that
// decoding reports it under its key.
// known is false when sec has no key named key: the caller says so.
func TextValue(sec, key, text string) (v any, known bool) {
	switch sec {
	case "arbiter":
		return textValue(arbiterFields, key, text)
	case "web":
		return textValue(webFields, key, text)
	case "sockets":
		return textValue(socketFields, key, text)
	case "watchers":
		return textValue(watcherFields, key, text)
	}
	return nil, false
}

func textValue[T any](fields []field[T], key, text string) (any, bool) {
	i := slices.IndexFunc(fields, func(f field[T]) bool { return f.key == key })
	if i < 0 {
		return nil, false
	}
	f := fields[i]
	if parses(f, text) {
		return text, true // the key takes the string itself (a duration, a size, ...)
	}
	for _, t := range []string{text, iniBool(text)} {
		if t == "" {
			continue
		}
		var dst T
		d := &decoder{ps: &problems{}, fromFile: true}
		f.decode(d, key, envValue{text: t}, &dst)
		if len(d.ps.list) > 0 {
			continue
		}
		if v, ok := tomlValue(f.wire(&dst)); ok {
			return v, true
		}
	}
	return looksLike(text), true
}

// looksLike is text as the type it looks like, for a value its key
// refuses: a number out of the key's range is then told as that
// ("must be between 0 and ..., got -1"), anything else as the string.
func looksLike(text string) any {
	t := strings.TrimSpace(text)
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	return text
}

// parses says whether f decodes the string s, as a TOML file's string.
func parses[T any](f field[T], s string) bool {
	var dst T
	d := &decoder{ps: &problems{}, fromFile: true}
	f.decode(d, f.key, s, &dst)
	return len(d.ps.list) == 0
}

// iniBool is a boolean in INI's words (Python's configparser: yes/no,
// on/off, true/false, 1/0, any case) as "true" or "false"; "" otherwise.
func iniBool(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "on":
		return "true"
	case "no", "off":
		return "false"
	}
	return ""
}

// tomlValue is a field's wire value in the types a TOML file gives.
func tomlValue(v any) (any, bool) {
	switch x := v.(type) {
	case string, bool, int64, float64, []string:
		return x, true
	case int:
		return int64(x), true
	case uint64:
		return fmt.Sprint(x), true // sizes and limits also parse as text
	case []int:
		out := make([]int64, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, true
	case map[string]any:
		out := make(map[string]string, len(x))
		for k, e := range x {
			out[k] = fmt.Sprint(e)
		}
		return out, true
	}
	return nil, false
}

// SectionKeys are the keys of a section of kind sec ("arbiter", "web",
// "sockets" or "watchers"), sorted.
func SectionKeys(sec string) []string { return sectionKeys(sec) }
