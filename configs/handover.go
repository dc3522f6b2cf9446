package configs

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// An upgrade in place hands the config over as JSON (arbiter/upgrade):
// the field names of these types, no tags. A build writes only the
// fields it knows, so a field added since the build that wrote a state
// is absent from it. Each type decodes on top of its defaults, so that
// such a field takes the default the file loader gives it (for
// StopChildren, true), not Go's zero value. A field present in the JSON
// is taken as written, whatever its value.

// UnmarshalJSON decodes c on top of the defaults of [arbiter] and [web];
// each watcher and socket decodes on top of its own. Fields this build
// does not know (a state of a newer build: a rollback, a downgrade) are
// dropped, and said in c.Warnings.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	p := plain{Arbiter: DefaultArbiter(), Web: DefaultWeb()}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Config(p)
	if unknown := unknownFields(b, reflect.TypeFor[Config](), ""); len(unknown) > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("configs: the config handed over sets what this build of poold does not know "+
			"(it is older than the build that wrote it), so it runs without: %s", strings.Join(unknown, ", ")))
	}
	return nil
}

// UnmarshalJSON decodes a on top of DefaultArbiter.
func (a *Arbiter) UnmarshalJSON(b []byte) error {
	type plain Arbiter
	p := plain(DefaultArbiter())
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Arbiter(p)
	return nil
}

// UnmarshalJSON decodes w on top of DefaultWeb.
func (w *Web) UnmarshalJSON(b []byte) error {
	type plain Web
	p := plain(DefaultWeb())
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*w = Web(p)
	return nil
}

// UnmarshalJSON decodes s on top of DefaultSocket.
func (s *Socket) UnmarshalJSON(b []byte) error {
	type plain Socket
	p := plain(DefaultSocket(""))
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*s = Socket(p)
	return nil
}

// UnmarshalJSON decodes w on top of DefaultWatcher.
func (w *Watcher) UnmarshalJSON(b []byte) error {
	type plain Watcher
	p := plain(DefaultWatcher(""))
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*w = Watcher(p)
	return nil
}

// unknownFields lists the keys of the JSON object b that no field of
// the struct type t takes (encoding/json drops them), as PATH.KEY, in
// the objects and lists of objects of its fields too: what a state
// written by a newer build sets that this one does not know.
func unknownFields(b []byte, t reflect.Type, path string) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return nil
	}
	fields := map[string]reflect.Type{}
	jsonFields(t, fields)
	var out []string
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		ft, ok := fields[strings.ToLower(k)]
		switch {
		case !ok:
			out = append(out, path+k)
		case ft.Kind() == reflect.Struct:
			out = append(out, unknownFields(obj[k], ft, path+k+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			var list []json.RawMessage
			_ = json.Unmarshal(obj[k], &list)
			for i, e := range list {
				var named struct{ Name string }
				_ = json.Unmarshal(e, &named)
				out = append(out, unknownFields(e, ft.Elem(), fmt.Sprintf("%s%s[%s].", path, k, cmp.Or(named.Name, strconv.Itoa(i))))...)
			}
		}
	}
	return out
}

// jsonFields maps the lower-cased JSON names of t's fields (those of an
// embedded struct promoted, as encoding/json does) to their types.
func jsonFields(t reflect.Type, into map[string]reflect.Type) {
	for f := range t.Fields() {
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			jsonFields(f.Type, into)
		case f.IsExported() && f.Tag.Get("json") != "-":
			into[strings.ToLower(f.Name)] = f.Type
		}
	}
}
