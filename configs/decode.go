package configs

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// envValue is a raw value taken from a POOLD_* environment variable: text
// parsed as whatever type its key expects.
type envValue struct {
	name string // the variable, for error messages
	text string
}

// decoder turns raw values (from a file via viper, from the environment, or
// from JSON control-protocol options) into typed fields, collecting every
// problem instead of stopping at the first.
type decoder struct {
	ps *problems
	// fromFile: keys of maps were lower-cased by the reader, so an env table
	// is refused; options (JSON) may give env as an object.
	fromFile bool
}

// bad records a problem about raw at key, naming the environment variable
// when the value came from one.
func (d *decoder) bad(key string, raw any, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ev, ok := raw.(envValue); ok {
		msg += " (from environment variable " + ev.name + ")"
	}
	d.ps.list = append(d.ps.list, Problem{Key: key, Msg: msg})
}

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

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = float64(math.MaxInt64) / float64(time.Second)

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
		if f, ok := asFloat(raw); ok && math.Abs(f) <= maxSeconds {
			return time.Duration(math.Round(f * float64(time.Second))), true
		}
	}
	if text != "" {
		text = strings.TrimSpace(text)
		if dur, err := time.ParseDuration(text); err == nil {
			return dur, true
		}
		if f, err := strconv.ParseFloat(text, 64); err == nil && math.Abs(f) <= maxSeconds {
			return time.Duration(math.Round(f * float64(time.Second))), true
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

// sizeUnits are the suffixes a size may carry, as powers of 1024.
var sizeUnits = map[string]uint64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

// ParseSize parses a size in bytes: digits, optionally fractional, with an
// optional binary-unit suffix K, M, G or T (any case, optionally followed
// by "B" or "iB"): "512M" = 512 MiB, "1.5G", "4096", "64KiB".
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	if num == "" && unit != "" {
		return 0, fmt.Errorf("size %q has no number", s)
	}
	if len(unit) > 1 {
		// "MB", "MiB": the letter is what counts.
		unit = strings.TrimSuffix(strings.TrimSuffix(unit, "b"), "i")
	}
	mult, ok := sizeUnits[unit]
	if unit == "b" {
		mult, ok = 1, true
	}
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional K, M, G or T suffix", s)
	}
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if n > math.MaxUint64/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional K, M, G or T suffix", s)
	}
	b := math.Round(f * float64(mult))
	if b >= math.MaxUint64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(b), nil
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
		if n, err := ParseSize(text); err == nil {
			return n, true
		}
	}
	d.bad(key, raw, `must be a size in bytes, or a string with a K, M or G suffix (binary units) such as "512M", got %s`, describe(raw))
	return 0, false
}

// ParseSignal accepts "TERM", "SIGTERM", "term" or a number ("15").
func ParseSignal(s string) (syscall.Signal, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		sig := syscall.Signal(n)
		if n <= 0 || unix.SignalName(sig) == "" {
			return 0, fmt.Errorf("unknown signal number %d", n)
		}
		return sig, nil
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// SignalName is the wire form of a signal: its name without "SIG"
// ("TERM"), or its number as a string when it has no name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
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
		if sig, err := ParseSignal(text); err == nil {
			return sig, true
		}
	}
	d.bad(key, raw, `must be a signal name such as "TERM", "SIGTERM" or "hup", or a signal number, got %s`, describe(raw))
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

// rlimitResources maps the accepted rlimits names to their resources.
var rlimitResources = map[string]int{
	"as":         unix.RLIMIT_AS,
	"core":       unix.RLIMIT_CORE,
	"cpu":        unix.RLIMIT_CPU,
	"data":       unix.RLIMIT_DATA,
	"fsize":      unix.RLIMIT_FSIZE,
	"locks":      unix.RLIMIT_LOCKS,
	"memlock":    unix.RLIMIT_MEMLOCK,
	"msgqueue":   unix.RLIMIT_MSGQUEUE,
	"nice":       unix.RLIMIT_NICE,
	"nofile":     unix.RLIMIT_NOFILE,
	"nproc":      unix.RLIMIT_NPROC,
	"rss":        unix.RLIMIT_RSS,
	"rtprio":     unix.RLIMIT_RTPRIO,
	"sigpending": unix.RLIMIT_SIGPENDING,
	"stack":      unix.RLIMIT_STACK,
}

// RlimitResource maps an rlimits name ("nofile") to its RLIMIT_* resource
// for unix.Setrlimit / unix.Prlimit.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitResources[strings.ToLower(name)]
	return r, ok
}

func rlimitNames() []string {
	names := make([]string, 0, len(rlimitResources))
	for n := range rlimitResources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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
			d.bad(k, raw, "unknown resource limit %s; valid: %s", strconv.Quote(name), strings.Join(rlimitNames(), ", "))
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
		d.bad(k, raw, `must be a non-negative integer or "unlimited", got %s`, describe(v))
		good = false
	}
	return out, good
}

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
	return field[T]{key: key,
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

func unknownKeyMsg(k string, valid []string, fromFile bool) string {
	what := "key"
	if !fromFile {
		what = "option"
	}
	if s := closest(k, valid); s != "" {
		return fmt.Sprintf("unknown %s; did you mean %q?", what, s)
	}
	return fmt.Sprintf("unknown %s; valid %ss: %s", what, what, strings.Join(valid, ", "))
}

// closest returns the candidate nearest to k by edit distance (ignoring
// case, '_' and '-'), or else the one sharing the longest prefix of at
// least 5 characters, or "" when none is near enough to be an obvious typo.
func closest(k string, candidates []string) string {
	if best, near := nearest(k, candidates); near {
		return best
	}
	// A shortened key ("numprocs"): the one candidate sharing the longest
	// prefix of at least 5 characters.
	best, bestP, ties := "", 0, 0
	for _, c := range candidates {
		p := commonPrefix(normKey(k), normKey(c))
		switch {
		case p > bestP:
			best, bestP, ties = c, p, 1
		case p == bestP:
			ties++
		}
	}
	if bestP >= 5 && ties == 1 {
		return best
	}
	return ""
}

func normKey(s string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
}

// nearest returns the one candidate within edit distance 2 of k (1 for
// keys of up to 4 characters), ignoring case, '_' and '-'. near reports
// whether any candidate is that close; best is "" when several are
// ("id": uid or gid?).
func nearest(k string, candidates []string) (best string, near bool) {
	bestD, ties := math.MaxInt, 0
	for _, c := range candidates {
		dist := editDistance(normKey(k), normKey(c))
		switch {
		case dist < bestD:
			best, bestD, ties = c, dist, 1
		case dist == bestD:
			ties++
		}
	}
	limit := 2
	if len(k) <= 4 {
		limit = 1
	}
	switch {
	case bestD > limit:
		return "", false
	case ties > 1:
		return "", true
	}
	return best, true
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours ("hots" -> "host")
// each cost 1.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

var arbiterFields = []field[Arbiter]{
	stringField("endpoint", func(a *Arbiter) *string { return &a.Endpoint }),
	stringField("pubsub_endpoint", func(a *Arbiter) *string { return &a.PubSubEndpoint }),
	stringField("stats_endpoint", func(a *Arbiter) *string { return &a.StatsEndpoint }),
	durationField("stats_interval", func(a *Arbiter) *time.Duration { return &a.StatsInterval }, true),
	intField("max_processes", func(a *Arbiter) *int { return &a.MaxProcesses }, 1, math.MaxInt32),
	boolField("allow_remote", func(a *Arbiter) *bool { return &a.AllowRemote }),
	listField("control_allow", func(a *Arbiter) *[]string { return &a.ControlAllow }),
	listField("control_read_only", func(a *Arbiter) *[]string { return &a.ControlReadOnly }),
	stringField("log_level", func(a *Arbiter) *string { return &a.LogLevel }),
	stringField("log_format", func(a *Arbiter) *string { return &a.LogFormat }),
	intField("event_history", func(a *Arbiter) *int { return &a.EventHistory }, 0, 1<<20),
}

var webFields = []field[Web]{
	boolField("enabled", func(w *Web) *bool { return &w.Enabled }),
	stringField("address", func(w *Web) *string { return &w.Address }),
	stringField("token", func(w *Web) *string { return &w.Token }),
	boolField("read_only", func(w *Web) *bool { return &w.ReadOnly }),
	stringField("metrics_address", func(w *Web) *string { return &w.MetricsAddress }),
	stringField("tls_cert", func(w *Web) *string { return &w.TLSCert }),
	stringField("tls_key", func(w *Web) *string { return &w.TLSKey }),
	listField("api_tokens", func(w *Web) *[]string { return &w.APITokens }),
}

var socketFields = []field[Socket]{
	stringField("family", func(s *Socket) *string { return &s.Family }),
	stringField("host", func(s *Socket) *string { return &s.Host }),
	intField("port", func(s *Socket) *int { return &s.Port }, 0, 65535),
	stringField("path", func(s *Socket) *string { return &s.Path }),
	intField("backlog", func(s *Socket) *int { return &s.Backlog }, 1, math.MaxInt32),
	boolField("reuseport", func(s *Socket) *bool { return &s.ReusePort }),
	{key: "mode",
		decode: func(d *decoder, k string, raw any, dst *Socket) {
			if m, ok := d.octal(k, raw, false); ok {
				dst.Mode = os.FileMode(m)
			}
		},
		wire: func(s *Socket) any { return fmt.Sprintf("%04o", uint32(s.Mode.Perm())) },
	},
	boolField("replace_stale", func(s *Socket) *bool { return &s.ReplaceStale }),
}

// watcherFields are the keys of a [watchers.NAME] section, which are also
// the control protocol's option names.
var watcherFields = []field[Watcher]{
	stringField("cmd", func(w *Watcher) *string { return &w.Cmd }),
	listField("args", func(w *Watcher) *[]string { return &w.Args }),
	intField("numprocesses", func(w *Watcher) *int { return &w.NumProcesses }, 0, math.MaxInt32),
	intField("max_processes", func(w *Watcher) *int { return &w.MaxProcesses }, 1, math.MaxInt32),
	{key: "env",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if l, ok := d.envList(k, raw); ok {
				w.Env = emptyNil(l)
			}
		},
		wire: func(w *Watcher) any { return nonNil(w.Env) },
	},
	boolField("copy_env", func(w *Watcher) *bool { return &w.CopyEnv }),
	stringField("working_dir", func(w *Watcher) *string { return &w.WorkingDir }),
	{key: "uid",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if s, ok := d.idString(k, raw); ok {
				w.UID = s
			}
		},
		wire: func(w *Watcher) any { return w.UID },
	},
	{key: "gid",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if s, ok := d.idString(k, raw); ok {
				w.GID = s
			}
		},
		wire: func(w *Watcher) any { return w.GID },
	},
	{key: "umask",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if m, ok := d.octal(k, raw, true); ok {
				w.Umask = int(m)
			}
		},
		wire: func(w *Watcher) any {
			if w.Umask < 0 {
				return ""
			}
			return fmt.Sprintf("%03o", w.Umask)
		},
	},
	{key: "rlimits",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if m, ok := d.rlimits(k, raw); ok && len(m) > 0 {
				w.Rlimits = m
			} else if ok {
				w.Rlimits = nil
			}
		},
		wire: func(w *Watcher) any {
			out := make(map[string]any, len(w.Rlimits))
			for name, v := range w.Rlimits {
				if v == RlimitUnlimited {
					out[name] = "unlimited"
				} else {
					out[name] = v
				}
			}
			return out
		},
	},
	{key: "stop_signal",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if sig, ok := d.signal(k, raw); ok {
				w.StopSignal = sig
			}
		},
		wire: func(w *Watcher) any { return SignalName(w.StopSignal) },
	},
	durationField("graceful_timeout", func(w *Watcher) *time.Duration { return &w.GracefulTimeout }, false),
	durationField("warmup_delay", func(w *Watcher) *time.Duration { return &w.WarmupDelay }, false),
	intField("priority", func(w *Watcher) *int { return &w.Priority }, math.MinInt32, math.MaxInt32),
	boolField("autostart", func(w *Watcher) *bool { return &w.Autostart }),
	boolField("respawn", func(w *Watcher) *bool { return &w.Respawn }),
	listField("sockets", func(w *Watcher) *[]string { return &w.Sockets }),
	boolField("use_sockets", func(w *Watcher) *bool { return &w.UseSockets }),
	durationField("backoff_min", func(w *Watcher) *time.Duration { return &w.BackoffMin }, true),
	durationField("backoff_max", func(w *Watcher) *time.Duration { return &w.BackoffMax }, true),
	durationField("backoff_reset", func(w *Watcher) *time.Duration { return &w.BackoffReset }, true),

	stringField("readiness", func(w *Watcher) *string { return &w.Readiness }),
	durationField("ready_delay", func(w *Watcher) *time.Duration { return &w.ReadyDelay }, false),
	durationField("ready_timeout", func(w *Watcher) *time.Duration { return &w.ReadyTimeout }, true),
	stringField("ready_address", func(w *Watcher) *string { return &w.ReadyAddress }),
	stringField("ready_url", func(w *Watcher) *string { return &w.ReadyURL }),
	intField("max_surge", func(w *Watcher) *int { return &w.MaxSurge }, 1, math.MaxInt32),
	boolField("send_hup", func(w *Watcher) *bool { return &w.SendHUP }),
	durationField("max_age", func(w *Watcher) *time.Duration { return &w.MaxAge }, false),
	durationField("max_age_variance", func(w *Watcher) *time.Duration { return &w.MaxAgeVariance }, false),

	intField("flapping_attempts", func(w *Watcher) *int { return &w.FlappingAttempts }, 0, math.MaxInt32),
	durationField("flapping_window", func(w *Watcher) *time.Duration { return &w.FlappingWindow }, false),
	durationField("flapping_retry_in", func(w *Watcher) *time.Duration { return &w.FlappingRetryIn }, false),
	intField("flapping_max_retry", func(w *Watcher) *int { return &w.FlappingMaxRetry }, -1, math.MaxInt32),

	stringField("health_check", func(w *Watcher) *string { return &w.HealthCheck }),
	stringField("health_url", func(w *Watcher) *string { return &w.HealthURL }),
	stringField("health_address", func(w *Watcher) *string { return &w.HealthAddress }),
	stringField("health_cmd", func(w *Watcher) *string { return &w.HealthCmd }),
	durationField("health_interval", func(w *Watcher) *time.Duration { return &w.HealthInterval }, true),
	durationField("health_timeout", func(w *Watcher) *time.Duration { return &w.HealthTimeout }, true),
	intField("health_threshold", func(w *Watcher) *int { return &w.HealthThreshold }, 1, math.MaxInt32),

	{key: "max_rss",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if n, ok := d.size(k, raw); ok {
				w.MaxRSS = n
			}
		},
		wire: func(w *Watcher) any { return w.MaxRSS },
	},
	{key: "max_cpu",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			f, ok := d.percent(k, raw)
			switch {
			case !ok:
			case f < 0:
				d.bad(k, raw, "must be >= 0 (0 = no limit), got %g", f)
			default:
				w.MaxCPU = f
			}
		},
		wire: func(w *Watcher) any { return w.MaxCPU },
	},
	intField("limit_threshold", func(w *Watcher) *int { return &w.LimitThreshold }, 1, math.MaxInt32),

	listField("depends_on", func(w *Watcher) *[]string { return &w.DependsOn }),
}
