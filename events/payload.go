package events

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// The stats stream sends one message per worker every stats_interval, and
// encoding/json's Marshal of a map (reflection, a sorted copy of the keys,
// a copy of the map for time and seq) was half of what an open console or
// stats subscriber cost poold. appendPayload writes the same bytes as
// json.Marshal(e.Payload()) with no reflection for the types poold's
// events hold (strings, bools, numbers, nested maps and slices of those,
// and number-valued json.Marshalers such as procinfo.Float); any other
// value, and any string or float whose encoding is not the plain one, is
// encoded by json.Marshal itself, so the output is json.Marshal's in
// every case (payload_test.go compares them).

// appendPayload appends the JSON of e.Payload() to b.
func appendPayload(b []byte, e Event) ([]byte, error) {
	var arr [32]string
	keys := arr[:0]
	for k := range e.Fields {
		if k != "time" && k != "seq" && (k != "instance" || e.Instance == "") {
			keys = append(keys, k)
		}
	}
	keys = append(keys, "time", "seq")
	if e.Instance != "" {
		keys = append(keys, "instance")
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		switch k {
		case "time":
			b, err = appendFloat(b, float64(e.Time.UnixNano())/1e9)
		case "seq":
			b = strconv.AppendUint(b, e.Seq, 10)
		case "instance":
			if e.Instance == "" { // a field of that name: Payload keeps it
				b, err = appendValue(b, e.Fields[k])
				break
			}
			b = appendString(b, e.Instance)
		default:
			b, err = appendValue(b, e.Fields[k])
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendValue appends the JSON of v, as json.Marshal writes it.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case float64:
		return appendFloat(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(b, v, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(v), 10), nil
	case map[string]any:
		return appendMap(b, v)
	case []any:
		return appendList(b, v, v == nil)
	case []string:
		return appendList(b, v, v == nil)
	case []int:
		return appendList(b, v, v == nil)
	case json.Marshaler:
		return appendMarshaler(b, v)
	}
	return appendMarshal(b, v)
}

// appendMap appends a map's JSON: its keys sorted, as json.Marshal does.
func appendMap(b []byte, m map[string]any) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var arr [32]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if b, err = appendValue(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendList appends a slice's JSON; a nil slice is null.
func appendList[T any](b []byte, s []T, isNil bool) ([]byte, error) {
	if isNil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	var err error
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendValue(b, v); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendString appends s quoted. A string of printable ASCII that needs
// no escape (json.Marshal escapes <, > and & for HTML too) is written as
// it is; any other goes through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s) // a string always encodes
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat appends f as json.Marshal does: the shortest decimal that
// reads back as f, without an exponent between 1e-6 and 1e21; outside
// that range (and for NaN and infinities, which it refuses) json.Marshal
// writes it.
func appendFloat(b []byte, f float64) ([]byte, error) {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		return appendMarshal(b, f)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}

// appendMarshaler appends what a json.Marshaler writes when that is a
// plain JSON number (procinfo.Float's "12.0"); anything else, and a nil
// pointer, goes through json.Marshal, which validates and compacts it.
func appendMarshaler(b []byte, m json.Marshaler) ([]byte, error) {
	if rv := reflect.ValueOf(m); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return append(b, "null"...), nil
	}
	out, err := m.MarshalJSON()
	if err != nil || !plainNumber(out) {
		return appendMarshal(b, m)
	}
	return append(b, out...), nil
}

// plainNumber tells whether p is one JSON number and nothing else.
func plainNumber(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for _, c := range p {
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			return false
		}
	}
	return json.Valid(p)
}

// appendMarshal appends json.Marshal(v).
func appendMarshal(b []byte, v any) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, out...), nil
}
