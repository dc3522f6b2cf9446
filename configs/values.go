// Decoding of single values: strings, numbers, durations, sizes,
// signals, modes, lists, environments and rlimits, each naming its key
// when it is wrong.

package configs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// describe renders a raw value for "got ..." in messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing (null)"
	case envValue:
		return strconv.Quote(x.text)
	case string:
		return "string " + strconv.Quote(x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return fmt.Sprintf("number %v", x)
	case []any, []string:
		return "a list"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T value", x)
	}
}

// asInt returns v as an integer when it is an integral number of any Go
// numeric type (TOML gives int64, YAML int, JSON float64).
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float32:
		return asInt(float64(x))
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// asFloat returns v as a float when it is a number of any Go numeric type.
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint:
		return float64(x), true
	}
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	return 0, false
}

func (d *decoder) str(key string, raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case envValue:
		return x.text, true
	}
	d.bad(key, raw, "must be a string, got %s", describe(raw))
	return "", false
}

func (d *decoder) integer(key string, raw any) (int64, bool) {
	if ev, ok := raw.(envValue); ok {
		if i, err := strconv.ParseInt(strings.TrimSpace(ev.text), 10, 64); err == nil {
			return i, true
		}
	} else if i, ok := asInt(raw); ok {
		return i, true
	}
	d.bad(key, raw, "must be an integer, got %s", describe(raw))
	return 0, false
}

func (d *decoder) boolean(key string, raw any) (bool, bool) {
	switch x := raw.(type) {
	case bool:
		return x, true
	case envValue:
		if b, err := strconv.ParseBool(strings.TrimSpace(x.text)); err == nil {
			return b, true
		}
	}
	d.bad(key, raw, "must be true or false, got %s", describe(raw))
	return false, false
}

// Seconds converts a number of seconds to a time.Duration, rounded to the
// nanosecond; false when it does not fit (NaN, or about 292 years and
// more either way). The check is on the rounded
// nanoseconds: float64(math.MaxInt64) is 2^63, one past the largest, and
// a value that rounds to it would overflow into a negative duration.
func Seconds(f float64) (time.Duration, bool) {
	ns := math.Round(f * float64(time.Second))
	if math.IsNaN(ns) || math.Abs(ns) >= float64(math.MaxInt64) {
		return 0, false
	}
	return time.Duration(ns), true
}

// duration accepts a Go duration string ("30s", "1m30s") or a number of
// seconds, possibly fractional (Circus style), also as a string ("2.5").
func (d *decoder) duration(key string, raw any) (time.Duration, bool) {
	var text string
	switch x := raw.(type) {
	case string:
		text = x
	case envValue:
		text = x.text
	default:
		if f, ok := asFloat(raw); ok {
			if dur, ok := Seconds(f); ok {
				return dur, true
			}
		}
	}
	if text != "" {
		text = strings.TrimSpace(text)
		if dur, err := time.ParseDuration(text); err == nil {
			return dur, true
		}
		if f, err := strconv.ParseFloat(text, 64); err == nil {
			if dur, ok := Seconds(f); ok {
				return dur, true
			}
		}
	}
	d.bad(key, raw, `must be a duration such as "30s" or "1m30s", or a number of seconds, got %s`, describe(raw))
	return 0, false
}

// percent accepts a number ("150", 150.5) or a string with a trailing "%"
// ("150%"): a share of one core, so 200 means two full cores.
func (d *decoder) percent(key string, raw any) (float64, bool) {
	var text string
	isText := false
	switch x := raw.(type) {
	case string:
		text, isText = x, true
	case envValue:
		text, isText = x.text, true
	default:
		if f, ok := asFloat(raw); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	if isText {
		t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "%"))
		if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	d.bad(key, raw, `must be a percentage of one core such as 150 or "150%%", got %s`, describe(raw))
	return 0, false
}

// size accepts a number of bytes or a string for ParseSize.
func (d *decoder) size(key string, raw any) (uint64, bool) {
	var text string
	isText := false
	switch x := raw.(type) {
	case string:
		text, isText = x, true
	case envValue:
		text, isText = x.text, true
	case uint64:
		return x, true
	default:
		if i, ok := asInt(raw); ok && i >= 0 {
			return uint64(i), true
		}
	}
	if isText {
		n, err := ParseSize(text)
		if err == nil {
			return n, true
		}
		if errors.Is(err, errSizeTooLarge) {
			d.bad(key, raw, "%v; use a smaller size, or 0 for no limit", err)
			return 0, false
		}
	}
	d.bad(key, raw, `must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as "512M", got %s`, describe(raw))
	return 0, false
}

func (d *decoder) signal(key string, raw any) (syscall.Signal, bool) {
	var text string
	switch x := raw.(type) {
	case string:
		text = x
	case envValue:
		text = x.text
	default:
		if i, ok := asInt(raw); ok {
			text = strconv.FormatInt(i, 10)
		}
	}
	if text != "" {
		sig, err := ParseSignal(text)
		if err == nil {
			return sig, true
		}
		if errors.Is(err, ErrSignalRange) {
			d.bad(key, raw, "%v", err)
			return 0, false
		}
	}
	d.bad(key, raw, `must be a signal name such as "TERM", "SIGTERM", "hup" or "SIGRTMIN+2", or a signal number from 1 to %d, got %s`, lastSignal, describe(raw))
	return 0, false
}

// octal accepts an octal string ("022", "0o660") or a number taken at its
// value (0o22 in TOML/YAML, 18 in JSON). "" and -1 mean "unset" (-1) when
// allowUnset.
func (d *decoder) octal(key string, raw any, allowUnset bool) (int64, bool) {
	var text string
	isText := false
	switch x := raw.(type) {
	case string:
		text, isText = x, true
	case envValue:
		text, isText = x.text, true
	default:
		if i, ok := asInt(raw); ok {
			if i >= 0 && i <= 0o777 || allowUnset && i == -1 {
				return i, true
			}
		}
	}
	if isText {
		t := strings.TrimSpace(text)
		if allowUnset && (t == "" || t == "-1") {
			return -1, true
		}
		t = strings.TrimPrefix(strings.TrimPrefix(t, "0o"), "0O")
		if i, err := strconv.ParseUint(t, 8, 32); err == nil && i <= 0o777 {
			return int64(i), true
		}
	}
	if allowUnset {
		d.bad(key, raw, `must be an octal string between "000" and "777" such as "022", or -1 to inherit, got %s`, describe(raw))
	} else {
		d.bad(key, raw, `must be an octal string between "000" and "777" such as "0660", got %s`, describe(raw))
	}
	return 0, false
}

// strList accepts a list of strings. From the environment: a JSON array
// (`["a", "b c"]`) or whitespace-separated words.
func (d *decoder) strList(key string, raw any) ([]string, bool) {
	switch x := raw.(type) {
	case []string:
		return slices.Clone(x), true
	case []any:
		out := make([]string, 0, len(x))
		ok := true
		for i, e := range x {
			s, isStr := e.(string)
			if !isStr {
				d.bad(fmt.Sprintf("%s[%d]", key, i), raw, "must be a string, got %s", describe(e))
				ok = false
				continue
			}
			out = append(out, s)
		}
		return out, ok
	case envValue:
		t := strings.TrimSpace(x.text)
		if strings.HasPrefix(t, "[") {
			var out []string
			if err := json.Unmarshal([]byte(t), &out); err != nil {
				d.bad(key, raw, "must be a JSON array of strings or whitespace-separated words: %v", err)
				return nil, false
			}
			return out, true
		}
		return strings.Fields(t), true
	}
	d.bad(key, raw, "must be a list of strings, got %s", describe(raw))
	return nil, false
}

// envList decodes a watcher's env: a list of "KEY=VALUE" strings, values
// kept byte for byte. Options (JSON) may also give an object.
func (d *decoder) envList(key string, raw any) ([]string, bool) {
	var m map[string]any
	switch x := raw.(type) {
	case map[string]any:
		if d.fromFile {
			d.bad(key, raw, `must be a list of "KEY=VALUE" strings, e.g. env = ["PATH=/usr/bin", "LANG=C.UTF-8"] (a table would lose the case of its keys, which the config reader lower-cases)`)
			return nil, false
		}
		m = x
	case map[string]string:
		m = make(map[string]any, len(x))
		for k, v := range x {
			m[k] = v
		}
	case envValue:
		if !strings.HasPrefix(strings.TrimSpace(x.text), "{") {
			return d.strList(key, raw)
		}
		if err := json.Unmarshal([]byte(x.text), &m); err != nil {
			d.bad(key, raw, `must be a JSON array of "KEY=VALUE" strings or a JSON object: %v`, err)
			return nil, false
		}
	case string:
		// One "KEY=VALUE" where a list is wanted: say how to write it.
		how := fmt.Sprintf(`write env = [%q]`, x)
		if !d.fromFile {
			how = fmt.Sprintf(`send a list, e.g. poolctl set NAME env '[%q]', or an object, '{"KEY": "value"}'`, x)
		}
		d.bad(key, raw, `must be a list of "KEY=VALUE" strings, got the string %q; %s`, x, how)
		return nil, false
	default:
		return d.strList(key, raw)
	}
	out := make([]string, 0, len(m))
	ok := true
	for _, k := range sortedKeys(m) {
		if v, isStr := m[k].(string); isStr {
			out = append(out, k+"="+v)
		} else if f, isNum := asFloat(m[k]); isNum {
			out = append(out, k+"="+strconv.FormatFloat(f, 'f', -1, 64))
		} else {
			d.bad(key+"."+k, raw, "must be a string, got %s", describe(m[k]))
			ok = false
		}
	}
	return out, ok
}

// idString accepts a user or group as a name or a number.
func (d *decoder) idString(key string, raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return strings.TrimSpace(x), true
	case envValue:
		return strings.TrimSpace(x.text), true
	}
	if i, ok := asInt(raw); ok && i >= 0 {
		return strconv.FormatInt(i, 10), true
	}
	d.bad(key, raw, "must be a user or group name, or a non-negative number, got %s", describe(raw))
	return "", false
}

// rlimits decodes a table name -> limit; a limit is a non-negative integer
// or "unlimited"/"infinity". From the environment: a JSON object.
func (d *decoder) rlimits(key string, raw any) (map[string]uint64, bool) {
	m, ok := raw.(map[string]any)
	if ev, isEnv := raw.(envValue); isEnv {
		if err := json.Unmarshal([]byte(ev.text), &m); err != nil {
			d.bad(key, raw, `must be a JSON object such as {"nofile": 4096}: %v`, err)
			return nil, false
		}
		ok = true
	}
	if !ok {
		d.bad(key, raw, "must be a table of resource name to limit, e.g. rlimits = { nofile = 4096 }, got %s", describe(raw))
		return nil, false
	}
	out := make(map[string]uint64, len(m))
	good := true
	for _, name := range sortedKeys(m) {
		k := key + "." + name
		lname := strings.ToLower(name)
		if _, known := rlimitResources[lname]; !known {
			d.bad(k, raw, "unknown resource limit %s; valid: %s", strconv.Quote(name), strings.Join(RlimitNames(), ", "))
			good = false
			continue
		}
		v := m[name]
		if s, isStr := v.(string); isStr {
			switch strings.ToLower(strings.TrimSpace(s)) {
			case "unlimited", "infinity":
				out[lname] = RlimitUnlimited
				continue
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err == nil {
				out[lname] = n
				continue
			}
		} else if n, isInt := asInt(v); isInt && n >= 0 {
			out[lname] = uint64(n)
			continue
		} else if u, isU := v.(uint64); isU {
			out[lname] = u
			continue
		}
		hint := ""
		if s, isStr := v.(string); isStr {
			if n, err := ParseSize(s); err == nil {
				// memory_max takes units, rlimits (as Circus's) do not.
				hint = fmt.Sprintf(" (rlimits take no units: write %d for %s)", n, strconv.Quote(s))
			}
		}
		d.bad(k, raw, `must be a non-negative integer or "unlimited"%s, got %s`, hint, describe(v))
		good = false
	}
	return out, good
}
