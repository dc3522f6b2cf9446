package supervisorini

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// includes reads [include] files (globs separated by blanks, relative to
// the file's directory), in order, as supervisord does: after the main
// file and after each included one, %(here)s becomes that file's
// directory wherever it is still written (expandHere).
func (t *translator) includes() error {
	s := t.ini.Section("include")
	if s == nil {
		return nil
	}
	expandHere(t.ini, t.here)
	files, _ := s.Get("files")
	for _, g := range strings.Fields(t.expand(s, "files", files, scope{})) {
		if !filepath.IsAbs(g) {
			g = filepath.Join(t.here, g)
		}
		paths, _ := filepath.Glob(g)
		if len(paths) == 0 {
			t.warn(t.doc.Section("arbiter"), s, "files", g+" matches no file")
		}
		for _, p := range paths {
			if _, err := translate.ReadSupervisordINI(t.ini, p); err != nil {
				return fmt.Errorf("supervisorini: included by %s: %w", t.path, err)
			}
			abs, _ := filepath.Abs(p)
			expandHere(t.ini, filepath.Dir(abs))
		}
	}
	return nil
}

// expandHere writes dir for every %(here)s still in a value, as
// supervisord's expand_here does after reading each file of an
// [include] (a plain text replacement, before any other expansion): a
// %(here)s in an included file is that file's directory. Like
// supervisord, a [DEFAULT] option that holds %(here)s is copied into
// each section that does not set it, with the directory of the file
// read last.
func expandHere(ini *translate.INI, dir string) {
	const here = "%(here)s"
	for _, s := range ini.Sections {
		for i, o := range s.Options {
			s.Options[i].Value = strings.ReplaceAll(o.Value, here, dir)
		}
		if ini.Defaults == nil {
			continue
		}
		for _, o := range ini.Defaults.Options {
			if _, set := s.Get(o.Key); !set && strings.Contains(o.Value, here) {
				o.Value = strings.ReplaceAll(o.Value, here, dir)
				s.Options = append(s.Options, o)
			}
		}
	}
}

// repeats warns of each option and section header given again, naming
// both places: supervisord (strict=False) takes the later value and
// merges a repeated section into the first, so poold does too, but two
// values for one option are more often a mistake than a wish.
func (t *translator) repeats() {
	for _, r := range t.ini.Repeats {
		out := t.doc.Section("arbiter")
		for _, p := range []string{"program:", "fcgi-program:"} {
			if name, ok := strings.CutPrefix(r.Section, p); ok {
				out = t.doc.Section("watchers", name)
			}
		}
		n := translate.Note{Level: translate.Warn, File: r.File, Line: r.Line, Section: r.Section, Key: r.Key}
		if r.Key != "" {
			n.Msg = fmt.Sprintf("set again (first at %s:%d): as in supervisord, this later value wins; remove one of the two", r.PrevFile, r.PrevLine)
		} else {
			n.Msg = fmt.Sprintf("section given again (first at %s:%d): as in supervisord, the two are merged and an option set in both takes the later value; merge them into one", r.PrevFile, r.PrevLine)
		}
		t.doc.Note(nil, n)
		out.Comment("repeated: %s", n)
	}
}
