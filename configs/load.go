package configs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/spf13/viper"
)

// formats maps a file extension to the viper config type.
var formats = map[string]string{".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}

// keyDelim replaces viper's "." so that names containing dots
// ([watchers."api.v2"]) stay one key.
const keyDelim = "::"

// sections are the top-level keys of a config file.
var sections = []string{"arbiter", "sockets", "watchers", "web"}

// Load reads, decodes and validates the config file at path. The format
// follows the extension: .toml, .yaml/.yml or .json. Every POOLD_* variable
// naming a key of the file's sections (POOLD_ARBITER_ENDPOINT,
// POOLD_WATCHERS_WEB_NUMPROCESSES, ...) overrides it; any other POOLD_*
// variable is a problem, except the few poold itself uses (reservedEnv).
//
// Problems with the content come back together as one *Error; a file that
// cannot be read is a plain error wrapping the os error. Each call uses a
// fresh viper instance, so reloading (SIGHUP) is calling Load again.
func Load(path string) (*Config, error) {
	cfg, err := LoadPartial(path)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadPartial is Load, but a file that parsed and whose values have
// problems comes back decoded too, with its *Error: poold --check runs
// the checks of the machine on what it could decode, so that one run
// prints every problem. Keys with a problem hold their default value or
// what could be made of them.
func LoadPartial(path string) (*Config, error) {
	ext := strings.ToLower(filepath.Ext(path))
	format, ok := formats[ext]
	if !ok {
		return nil, &Error{File: path, Problems: []Problem{{Msg: fmt.Sprintf(
			"unsupported file extension %q: name the file .toml, .yaml, .yml or .json", ext)}}}
	}
	data, err := ReadConfigFile(path)
	if err != nil {
		return nil, err
	}
	data = TrimBOM(data)
	if format == "toml" {
		if p, deep := tomlNesting(data, maxNesting); deep {
			return nil, &Error{File: path, Problems: []Problem{p}}
		}
	}
	v := viper.NewWithOptions(viper.KeyDelimiter(keyDelim))
	v.SetConfigType(format)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) {
			p := syntaxHint(data, format, syntaxProblem(path, format, pe.Unwrap()))
			if format == "toml" {
				if rp, ok := tomlRepeat(data, pe.Unwrap()); ok {
					p = rp
				}
			}
			return nil, &Error{File: path, Problems: []Problem{p}}
		}
		return nil, fmt.Errorf("configs: %s: %w", path, err)
	}

	tree := rawTree(v)
	ps := &problems{}
	written := caseProblems(ps, data, format)
	if format == "json" {
		jsonDuplicates(ps, data)
	}
	tokenInReadableFile(ps, path, tree)
	envInReadableFile(ps, path, tree)
	fromEnv := applyEnv(ps, tree, os.Environ())
	cfg := decodeConfig(&decoder{ps: ps, fromFile: true}, tree)
	keepCase(cfg, written)
	cfg.Path, cfg.format, cfg.fromEnv = path, format, fromEnv
	ps.creditEnv(fromEnv)
	ps.locate(data, format, fromEnv)
	ps.inFileOrder()
	if err := ps.err(path); err != nil {
		return cfg, err
	}
	if len(cfg.Watchers) == 0 && len(cfg.Sockets) == 0 {
		// An empty file (truncated by a deploy, a template not filled
		// in) loads fine; a reload refuses it, a start ran idle silently.
		ps.warn("", "defines no watchers and no sockets, so poold runs idle (is the file empty or cut short?); add a [watchers.NAME] section, or add watchers at run time with poolctl add")
	}
	cfg.Warnings = ps.warningLines(path)
	return cfg, nil
}

// rawTree returns the file's content as nested maps (keys lower-cased by
// viper). Sections are taken whole with Get so that empty tables survive.
func rawTree(v *viper.Viper) map[string]any {
	tree := map[string]any{}
	for _, k := range v.AllKeys() {
		top, _, _ := strings.Cut(k, keyDelim)
		if _, done := tree[top]; !done {
			tree[top] = deepCopy(v.Get(top))
		}
	}
	for _, s := range sections {
		if _, done := tree[s]; !done {
			if val := v.Get(s); val != nil {
				tree[s] = deepCopy(val)
			}
		}
	}
	return tree
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// decodeConfig builds and validates a Config from the raw tree.
func decodeConfig(d *decoder, tree map[string]any) *Config {
	cfg := &Config{Arbiter: DefaultArbiter(), Web: DefaultWeb()}
	var socketsRaw, watchersRaw any
	for _, k := range sortedKeys(tree) {
		switch k {
		case "arbiter":
			decodeSection(d, "arbiter", tree[k], arbiterFields, &cfg.Arbiter)
		case "web":
			decodeSection(d, "web", tree[k], webFields, &cfg.Web)
		case "sockets":
			socketsRaw = tree[k]
		case "watchers":
			watchersRaw = tree[k]
		default:
			d.bad(k, tree[k], "%s", unknownTopMsg(k))
		}
	}
	validateArbiter(d.ps, &cfg.Arbiter)
	validateWeb(d.ps, &cfg.Web)

	var drafts []socketDraft
	for _, name := range sectionNames(d, "sockets", socketsRaw) {
		s := socketDraft{Socket: DefaultSocket(name)}
		s.present = decodeSection(d, "sockets."+name, socketsRaw.(map[string]any)[name], socketFields, &s.Socket)
		drafts = append(drafts, s)
	}
	checkListeners(d.ps, cfg.Arbiter, cfg.Web, validateSockets(d.ps, drafts))
	known := map[string]bool{}
	for _, s := range drafts {
		cfg.Sockets = append(cfg.Sockets, s.Socket)
		known[strings.ToLower(s.Name)] = true
	}

	for _, name := range sectionNames(d, "watchers", watchersRaw) {
		w := DefaultWatcher(name)
		prefix := "watchers." + name
		decodeSection(d, prefix, watchersRaw.(map[string]any)[name], watcherFields, &w)
		validateWatcher(d.ps, prefix, &w, known)
		checkProbeTargets(d.ps, func(key string) string { return joinKey(prefix, key) }, &w, cfg.Sockets)
		cfg.Watchers = append(cfg.Watchers, w)
	}
	var defined map[string]bool
	if m, ok := watchersRaw.(map[string]any); ok {
		defined = make(map[string]bool, len(m))
		for name := range m {
			defined[strings.ToLower(name)] = true // bad names too: reported once, above
		}
	}
	warnUnreached(d.ps, cfg.Sockets, cfg.Watchers)
	checkDependsOn(d.ps, cfg.Watchers, defined, func(name string) string { return "watchers." + name + ".depends_on" })
	warnOptionalDeps(d.ps, cfg.Watchers)
	if err := CheckTotal(cfg.Arbiter, cfg.Watchers); err != nil && !d.ps.has("arbiter.max_processes") {
		d.ps.add("arbiter.max_processes", "%v", err)
	}
	sort.SliceStable(cfg.Watchers, func(i, j int) bool {
		a, b := cfg.Watchers[i], cfg.Watchers[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		return a.Name < b.Name
	})
	return cfg
}

// sectionNames returns the sorted names of the tables in [sockets] or
// [watchers], reporting bad names; names are lower-case (viper).
func sectionNames(d *decoder, sec string, raw any) []string {
	if raw == nil {
		return nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		d.bad(sec, raw, "must be a table of named sections ([%s.NAME]), got %s", sec, describe(raw))
		return nil
	}
	var names []string
	for _, name := range sortedKeys(m) {
		if !nameRE.MatchString(name) {
			d.bad(sec+"."+name, nil, "bad name %q: %s", name, nameRule)
			continue
		}
		if msg := unnamedKey(sec, name, m[name]); msg != "" {
			d.bad(sec+"."+name, m[name], "%s", msg)
			continue
		}
		names = append(names, name)
	}
	return names
}

// unnamedKey is the problem of name, a key under [sec] that is a key of
// one of its sections, set to a value rather than a table: a section
// header without its name ([watchers] cmd = "..."). "" for a table, or
// any other key (decodeSection says what it must be).
func unnamedKey(sec, name string, raw any) string {
	if _, ok := raw.(map[string]any); ok {
		return ""
	}
	keys := fieldKeys(watcherFields)
	if sec == "sockets" {
		keys = fieldKeys(socketFields)
	}
	if !slices.Contains(keys, name) {
		return ""
	}
	return fmt.Sprintf("%s is a key of one %s section, but [%s] holds only named sections: write the header with a name, [%s.NAME] (e.g. [%s.web]), above %s",
		name, strings.TrimSuffix(sec, "s"), sec, sec, sec, name)
}

func unknownTopMsg(k string) string {
	if s := closest(k, sections); s != "" {
		return fmt.Sprintf("unknown section; did you mean %q? (sections: %s)", s, strings.Join(sections, ", "))
	}
	for sec, keys := range map[string][]string{"arbiter": fieldKeys(arbiterFields), "web": fieldKeys(webFields)} {
		for _, key := range keys {
			if key == k {
				return fmt.Sprintf("unknown top-level key; did you mean %s.%s (key %s under [%s])?", sec, k, k, sec)
			}
		}
	}
	return fmt.Sprintf("unknown section; valid sections: %s", strings.Join(sections, ", "))
}

// TrimBOM returns data without the UTF-8 byte order mark some editors
// write at the start of a file; no format poold reads allows one there.
func TrimBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, []byte("\ufeff"))
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// syntaxProblem turns a parser error into a Problem with the line (and
// column) when the parser reports them.
func syntaxProblem(path, format string, err error) Problem {
	p := Problem{Msg: "syntax error: " + err.Error()}
	var de *toml.DecodeError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &de):
		p.Line, p.Column = de.Position()
		p.Msg = "syntax error: " + de.Error()
	case errors.As(err, &se):
		p.Line, p.Column = offsetPosition(path, se.Offset)
	case errors.As(err, &te) && strings.HasPrefix(te.Value, "number"):
		// The file is read into plain maps, so only a number too large
		// for a float64 (1e400) ends up here.
		p.Line, p.Column = offsetPosition(path, te.Offset)
		p.Msg = fmt.Sprintf("%s is out of range; write a smaller value", te.Value)
	case errors.As(err, &te):
		p.Msg = "the file must hold one JSON object with the sections arbiter, web, sockets, watchers"
	case format == "yaml":
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			msg = strings.Replace(msg, m[0]+": ", "", 1)
		}
		p.Msg = "syntax error: " + strings.Join(strings.Fields(msg), " ")
		if p.Line > 0 && strings.HasPrefix(msg, "did not find expected") {
			// The parser gives the line where the block (or [ ], { })
			// it was reading begins, not the line at fault.
			p.Msg = fmt.Sprintf("syntax error in the block that begins at line %d: %s; the fault is on that line or below it (the YAML parser names only where the block begins): look for a line indented unlike the keys beside it, or a [ or { left open",
				p.Line, strings.Join(strings.Fields(msg), " "))
			p.Line = 0
		}
	}
	return p
}

// offsetPosition converts a byte offset in the file at path to a 1-based
// line and column (0, 0 if the file cannot be read again).
func offsetPosition(path string, off int64) (int, int) {
	data, err := ReadLimited(path)
	if err != nil {
		return 0, 0
	}
	data = TrimBOM(data) // as Load read it
	if off < 0 || off > int64(len(data)) {
		return 0, 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// maxFileSize bounds a config file: the readers hold several copies of
// what they read (a 50 MB TOML file took one 6-12 GB), while 10,000
// watchers take a few MB.
const maxFileSize = 32 << 20

// ReadConfigFile reads poold's config file at path, refusing one larger
// than maxFileSize; an error reading it says what to do (ReadError).
func ReadConfigFile(path string) ([]byte, error) {
	data, err := ReadLimited(path)
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return nil, ReadError(path, err)
	}
	return data, err
}
