package translate

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
)

// INI is an INI file read the way Python's RawConfigParser reads one.
// ReadSupervisordINI follows supervisord's parser (Python 3 rules with
// supervisord's settings; see it) and ReadINI Circus's own
// (StrictConfigParser._read, Python 2 rules): sections in file order;
// option names keep their case; the first value of an option wins when a file
// (or an included one) repeats it; continuation lines (starting with
// blanks) join the value with newlines; ';' after a blank starts a
// comment; a value of "" is empty; no interpolation. [DEFAULT] keys apply
// to every section that does not set them.
type INI struct {
	Sections []*INISection
	Defaults *INISection
	// Repeats lists the options and section headers given again
	// (ReadSupervisordINI only), for a warning naming both places.
	Repeats []Repeat
}

// INISection is one [name] section.
type INISection struct {
	Name    string
	File    string // the file that opened it
	Line    int
	Options []INIOption
}

// INIOption is one option of a section.
type INIOption struct {
	Key, Value string
	File       string
	Line       int
}

// Get returns the value of key, and whether the section (or [DEFAULT])
// sets it.
func (s *INISection) Get(key string) (string, bool) {
	for _, o := range s.Options {
		if o.Key == key {
			return o.Value, true
		}
	}
	return "", false
}

// Section returns the section named name, or nil.
func (f *INI) Section(name string) *INISection {
	for _, s := range f.Sections {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// defaultSection is RawConfigParser's section of options for every
// other section.
const defaultSection = "DEFAULT"

var (
	sectRE = regexp.MustCompile(`^\[(.+)\]`)
	optRE  = regexp.MustCompile(`^(.*?)\s*([=:])\s*(.*)$`)
)

// ReadINI reads the file at path into f (a new one when f is nil), adding
// to sections already read, as RawConfigParser.read does for a list of
// files. A line that is neither a section, an option nor a comment is an
// error naming the file and line.
func ReadINI(f *INI, path string) (*INI, error) {
	data, err := configs.ReadLimited(path)
	if err != nil {
		return nil, err
	}
	data = configs.TrimBOM(data)
	if f == nil {
		f = &INI{}
	}
	var (
		cur     *INISection
		lastOpt = -1
		bad     []string
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if (line[0] == 'r' || line[0] == 'R') && strings.EqualFold(strings.Fields(line)[0], "rem") {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && cur != nil && lastOpt >= 0 {
			cur.Options[lastOpt].Value += "\n" + trimmed
			continue
		}
		if m := sectRE.FindStringSubmatch(line); m != nil {
			cur, lastOpt = f.open(m[1], path, n), -1
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: the file must start with a section header such as [circus], got %q", path, n, line)
		}
		m := optRE.FindStringSubmatch(line)
		if m == nil {
			bad = append(bad, fmt.Sprintf("%s:%d: not a section, an option (key = value) or a comment: %q", path, n, line))
			continue
		}
		key, val := strings.TrimRight(m[1], " \t"), m[3]
		if i := strings.IndexByte(val, ';'); i > 0 && (val[i-1] == ' ' || val[i-1] == '\t') {
			val = val[:i]
		}
		val = strings.TrimSpace(val)
		if val == `""` {
			val = ""
		}
		if i := slices.IndexFunc(cur.Options, func(o INIOption) bool { return o.Key == key }); i >= 0 {
			// The first value wins; as in Python, continuation lines of
			// the ignored one go on extending the first.
			lastOpt = i
			continue
		}
		cur.Options = append(cur.Options, INIOption{Key: key, Value: val, File: path, Line: n})
		lastOpt = len(cur.Options) - 1
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(bad, "\n"))
	}
	return f, nil
}

// open returns the section name, creating it at the end.
func (f *INI) open(name, file string, line int) *INISection {
	if name == defaultSection {
		if f.Defaults == nil {
			f.Defaults = &INISection{Name: name, File: file, Line: line}
		}
		return f.Defaults
	}
	if s := f.Section(name); s != nil {
		return s
	}
	s := &INISection{Name: name, File: file, Line: line}
	f.Sections = append(f.Sections, s)
	return s
}

// ApplyDefaults copies the [DEFAULT] options into every section that does
// not set them.
func (f *INI) ApplyDefaults() {
	if f.Defaults == nil {
		return
	}
	for _, s := range f.Sections {
		for _, o := range f.Defaults.Options {
			if _, ok := s.Get(o.Key); !ok {
				s.Options = append(s.Options, o)
			}
		}
	}
}

// FirstSection returns the name of the first section header in data, or
// "" when the first line that is not blank or a comment is no section
// header: enough to tell a Circus file from a supervisord one, or from
// TOML. A [DEFAULT] section (options for every section, which Circus and
// supervisord both read) is passed over: the section after it tells.
func FirstSection(data []byte) string {
	_, line := FirstLine(data)
	m := sectRE.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	first := strings.TrimSpace(m[1])
	if first != defaultSection {
		return first
	}
	sc := bufio.NewScanner(bytes.NewReader(configs.TrimBOM(data)))
	for sc.Scan() {
		if m := sectRE.FindStringSubmatch(sc.Text()); m != nil && strings.TrimSpace(m[1]) != defaultSection {
			return strings.TrimSpace(m[1])
		}
	}
	return first
}

// FirstLine returns the first line of data that is neither blank nor a
// comment, trimmed, with its number; 0 and "" when there is none. A
// leading UTF-8 byte order mark is skipped.
func FirstLine(data []byte) (int, string) {
	sc := bufio.NewScanner(bytes.NewReader(configs.TrimBOM(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		return n, line
	}
	return 0, ""
}
