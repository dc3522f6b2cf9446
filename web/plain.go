package web

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// plain round-trips v through JSON: what comes back holds only
// JSON-native values (float64, string, bool, nil, []any, map[string]any)
// and shares no map or slice with v. A map of the values poold's replies
// and events hold is copied without JSON (native): the console's hub
// plains every worker's stats each stats round, even for a hidden tab,
// and the JSON round trip of them was a third of what a console cost
// poold (perf, 1,000 workers). Anything native cannot copy exactly as
// the round trip would goes through JSON.
func plain(v any) (map[string]any, error) {
	if m, ok := v.(map[string]any); ok && m != nil {
		if out, ok := nativeMap(m); ok {
			return out, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// nativeMap copies m as its JSON round trip would give it; false when a
// key or value is one it leaves to JSON.
func nativeMap(m map[string]any) (map[string]any, bool) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !utf8.ValidString(k) {
			return nil, false // JSON would replace the bad bytes
		}
		n, ok := native(v)
		if !ok {
			return nil, false
		}
		out[k] = n
	}
	return out, true
}

// native is v as its JSON round trip would give it: numbers as float64
// (json.Unmarshal parses the decimal JSON holds, which for an integer or
// a float64 is the same float64 as a conversion), a nil map or slice as
// nil, strings as they are when valid UTF-8, and a json.Marshaler that
// writes a plain number (procinfo.Float) as that number.
func native(v any) (any, bool) {
	switch v := v.(type) {
	case nil, bool:
		return v, true
	case string:
		return v, utf8.ValidString(v)
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case uint64:
		return float64(v), true
	case uint32:
		return float64(v), true
	case map[string]any:
		if v == nil {
			return nil, true
		}
		return nativeMap(v)
	case []any:
		return nativeList(v, v == nil)
	case []string:
		return nativeList(v, v == nil)
	case []int:
		return nativeList(v, v == nil)
	case json.Marshaler:
		return nativeNumber(v)
	}
	return nil, false
}

func nativeList[T any](s []T, isNil bool) (any, bool) {
	if isNil {
		return nil, true
	}
	out := make([]any, len(s))
	for i, v := range s {
		n, ok := native(v)
		if !ok {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// nativeNumber is what json.Unmarshal makes of a Marshaler's output when
// that is a plain number; false for anything else.
func nativeNumber(m json.Marshaler) (any, bool) {
	if rv := reflect.ValueOf(m); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, false
	}
	b, err := m.MarshalJSON()
	if err != nil || len(b) == 0 {
		return nil, false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return nil, false
		}
	}
	if !json.Valid(b) {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}
