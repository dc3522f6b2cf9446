// Package translate holds what the translators of other process managers'
// configuration files (configs/circusini, configs/supervisorini) share:
// an INI reader with Python's RawConfigParser rules, the translated
// document (poold sections in order, with notes on what did not map or
// changed meaning), its TOML rendering for `poold convert`, and its
// decoding into a configs.Config.
//
// Concurrency: plain data and functions; nothing here starts a goroutine.
package translate

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/poold/poold/configs"
)

// Level says how much a note matters.
type Level int

// Note levels.
const (
	// Info: the option maps, with a different meaning or a poold default
	// worth knowing. A comment in converted output; never an error.
	Info Level = iota + 1
	// Warn: the option has no equivalent (or is not mapped yet) and is
	// left out. An error with --strict.
	Warn
)

// Note is one remark about an option of the source file.
type Note struct {
	Level   Level
	File    string // the source file
	Line    int    // 0 = unknown
	Section string // the source section, e.g. "watcher:web"
	Key     string // the source key, "" for the section as a whole
	Msg     string
}

func (n Note) String() string {
	var b strings.Builder
	b.WriteString(n.File)
	if n.Line > 0 {
		fmt.Fprintf(&b, ":%d", n.Line)
	}
	fmt.Fprintf(&b, ": [%s]", n.Section)
	if n.Key != "" {
		b.WriteString(" " + n.Key)
	}
	b.WriteString(": " + n.Msg)
	return b.String()
}

// Doc is a translated configuration: poold sections in output order.
type Doc struct {
	Source string // the file translated
	// Format names the source's program ("Circus") where it accepts
	// names poold does not.
	Format   string
	Header   []string // comment lines at the top of converted output
	Sections []*Section
	Notes    []Note
	// Words, if set, rewrites poold's advice in config errors about
	// translated sections into the source format's words ("[sockets.NAME]"
	// becomes circus.ini's "[socket:NAME]").
	Words *strings.Replacer
	// Keys, if set, names the source option a poold key came from
	// ("numprocesses" -> "numprocs"), for config errors.
	Keys map[string]string
}

// Section is one poold table: Path {"arbiter"}, {"watchers", "web"}, ...
type Section struct {
	Path  []string
	Items []Item
	// From is the source section it was translated from, if one: config
	// errors about it are then told in the source's terms.
	From *INISection
}

// Item is a key with its value, or (Key "") a comment line.
type Item struct {
	Key     string
	Value   any // string, bool, int64, float64, []string, map[string]string
	Comment string
}

// Section returns the section at path, appending it when new.
func (d *Doc) Section(path ...string) *Section {
	for _, s := range d.Sections {
		if strings.Join(s.Path, "\x00") == strings.Join(path, "\x00") {
			return s
		}
	}
	s := &Section{Path: path}
	d.Sections = append(d.Sections, s)
	return s
}

// Set sets key to v, replacing an earlier value of key.
func (s *Section) Set(key string, v any) {
	for i := range s.Items {
		if s.Items[i].Key == key {
			s.Items[i].Value = v
			return
		}
	}
	s.Items = append(s.Items, Item{Key: key, Value: v})
}

// Get returns the value of key.
func (s *Section) Get(key string) (any, bool) {
	for _, it := range s.Items {
		if it.Key == key {
			return it.Value, true
		}
	}
	return nil, false
}

// Comment adds a comment line at this point of the section.
func (s *Section) Comment(format string, args ...any) {
	s.Items = append(s.Items, Item{Comment: fmt.Sprintf(format, args...)})
}

// Note records n and, when s is not nil, comments it in s at this point.
func (d *Doc) Note(s *Section, n Note) {
	d.Notes = append(d.Notes, n)
	if s == nil {
		return
	}
	tag := "note"
	if n.Level == Warn {
		tag = "NOT MAPPED"
	}
	where := "[" + n.Section + "]"
	if n.Key != "" {
		where += " " + n.Key
	}
	s.Comment("%s: %s: %s", tag, where, n.Msg)
}

// Warnings returns the notes of level Warn.
func (d *Doc) Warnings() []Note {
	var out []Note
	for _, n := range d.Notes {
		if n.Level == Warn {
			out = append(out, n)
		}
	}
	return out
}

// Tree renders the document as the nested maps configs.FromTree decodes.
func (d *Doc) Tree() map[string]any {
	tree := map[string]any{}
	for _, s := range d.Sections {
		m := tree
		for _, p := range s.Path {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		for _, it := range s.Items {
			if it.Key != "" {
				m[it.Key] = treeValue(it.Value)
			}
		}
	}
	return tree
}

func treeValue(v any) any {
	switch x := v.(type) {
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case []int64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = e
		}
		return out
	case int:
		return int64(x)
	}
	return v
}

// StrictError is the error of a --strict load: every Warn note.
type StrictError struct{ Notes []Note }

func (e *StrictError) Error() string {
	lines := make([]string, 0, len(e.Notes)+1)
	for _, n := range e.Notes {
		lines = append(lines, n.String())
	}
	lines = append(lines, fmt.Sprintf("%d option(s) above are dropped or do not mean quite the same under poold (--strict makes each an error): do what its line says, or run without --strict to take the file as translated, with these as warnings", len(e.Notes)))
	return strings.Join(lines, "\n")
}

// Config decodes and validates d as a poold configuration. With strict,
// any Warn note is an error (*StrictError) and nothing is decoded.
func (d *Doc) Config(strict bool) (*configs.Config, error) {
	if w := d.Warnings(); strict && len(w) > 0 {
		return nil, &StrictError{Notes: w}
	}
	cfg, err := configs.FromTree(d.Source, d.Tree())
	var ce *configs.Error
	if errors.As(err, &ce) {
		d.inSourceTerms(ce)
	}
	return cfg, err
}

// InSourceTerms is inSourceTerms for problems found after Config, such
// as what the machine says of the config (a missing working_dir).
func (d *Doc) InSourceTerms(ce *configs.Error) { d.inSourceTerms(ce) }

// inSourceTerms rewrites the problems of sections translated from a
// source section to name that section and its line: "[watcher:web]
// numprocesses" at the option's line (or the section's) rather than
// poold's "watchers.web.numprocesses", which the user never wrote.
// Names are matched without case: poold lower-cases them.
func (d *Doc) inSourceTerms(ce *configs.Error) {
	for i, p := range ce.Problems {
		var whole []*INISection // sections the problem is about as a whole
		for _, s := range d.Sections {
			path := strings.ToLower(strings.Join(s.Path, "."))
			lower := strings.ToLower(p.Key)
			switch {
			case s.From == nil:
			case lower == path:
				whole = append(whole, s.From)
			case strings.HasPrefix(lower, path+"."):
				ce.Problems[i] = d.optionProblem(ce.File, p, s.From, lower[len(path)+1:])
				// advice such as "raise watchers.web.max_processes"
				// names the key as the source writes it
				ce.Problems[i].Msg = strings.ReplaceAll(ce.Problems[i].Msg, strings.Join(s.Path, ".")+".", "["+s.From.Name+"] ")
			}
		}
		switch {
		case len(whole) == 1:
			ce.Problems[i] = d.sectionProblem(ce.File, p, whole[0], p.Msg)
		case len(whole) > 1:
			ce.Problems[i] = d.sectionProblem(ce.File, p, whole[0], sameName(ce.File, whole))
		}
	}
}

// optionProblem is p told as key of the source section from.
func (d *Doc) optionProblem(file string, p configs.Problem, from *INISection, key string) configs.Problem {
	if src, ok := d.Keys[key]; ok {
		key = src
	}
	optFile, line := from.File, from.Line
	for _, o := range from.Options {
		if o.Key == key {
			optFile, line = o.File, o.Line
		}
	}
	p.Key, p.Line, p.Column = "["+from.Name+"] "+key, line, 0
	if d.Words != nil {
		p.Msg = d.Words.Replace(p.Msg)
	}
	if optFile != file { // an included file: name it
		p.Key += fmt.Sprintf(" (%s:%d)", optFile, line)
		p.Line = 0
	}
	return p
}

// sectionProblem is p, with message msg, told as the source section from.
func (d *Doc) sectionProblem(file string, p configs.Problem, from *INISection, msg string) configs.Problem {
	p.Key, p.Line, p.Column, p.Msg = "["+from.Name+"]", from.Line, 0, msg
	if kind, name, ok := strings.Cut(from.Name, ":"); ok && !configs.ValidName(name) {
		if d.Format != "" {
			p.Msg += fmt.Sprintf(" (%s accepts it, poold does not)", d.Format)
		}
		p.Msg += fmt.Sprintf("; rename the section, e.g. [%s:%s], and what refers to it", kind, configs.NameLike(name))
	}
	if d.Words != nil {
		p.Msg = d.Words.Replace(p.Msg)
	}
	if from.File != file {
		p.Key += fmt.Sprintf(" (%s:%d)", from.File, from.Line)
		p.Line = 0
	}
	return p
}

// sameName says that the sections ss (two or more), whose names differ
// only in case, name one socket or watcher.
func sameName(file string, ss []*INISection) string {
	others := make([]string, 0, len(ss)-1)
	for _, s := range ss[1:] {
		where := fmt.Sprintf("line %d", s.Line)
		if s.File != file {
			where = fmt.Sprintf("%s:%d", s.File, s.Line)
		}
		others = append(others, fmt.Sprintf("[%s] (%s)", s.Name, where))
	}
	return fmt.Sprintf("has the same name as %s but for case: poold lower-cases socket and watcher names, so one section would silently replace the other; rename one of them or merge them",
		strings.Join(others, " and "))
}

// SortSections puts [arbiter] and [web] first, then sockets, then
// watchers, each in the order given by less (nil: by name).
func (d *Doc) SortSections() {
	rank := map[string]int{"arbiter": 0, "web": 1, "sockets": 2, "watchers": 3}
	sort.SliceStable(d.Sections, func(i, j int) bool {
		a, b := d.Sections[i].Path, d.Sections[j].Path
		return rank[a[0]] < rank[b[0]]
	})
}

// Closest is configs.Closest for the translators that import only this
// package: the key a misspelt option most likely meant, or "".
func Closest(k string, candidates []string) string { return configs.Closest(k, candidates) }
