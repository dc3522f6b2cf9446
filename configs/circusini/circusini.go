// Package circusini runs a Circus configuration (circus.ini) under poold:
// it reads the file with Circus's own rules (Python's RawConfigParser as
// Circus subclasses it, include and include_dir, [env] and [env:NAMES]
// sections, $VAR and $(circus.env.NAME) expansion) and translates it into
// a poold configuration, noting each option that has no poold equivalent
// or means something different. `poold circus.ini` runs the result;
// `poold convert circus.ini` writes it as TOML with the notes as comments.
//
// Concurrency: plain functions; Translate reads files and the given
// environment and keeps nothing.
package circusini

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// Circus's default endpoints: what circusctl and the other Circus tools
// connect to when given none, so a circus.ini without them keeps working
// with those tools.
const (
	DefaultEndpoint       = "tcp://127.0.0.1:5555"
	DefaultPubSubEndpoint = "tcp://127.0.0.1:5556"
	DefaultStatsEndpoint  = "tcp://127.0.0.1:5557"
)

// Detect reports whether data looks like a Circus configuration: its
// first section is [circus], [watcher:NAME], [socket:NAME], [env],
// [env:NAMES] or [plugin:NAME].
func Detect(data []byte) bool {
	s := translate.FirstSection(data)
	if s == "circus" || s == "env" {
		return true
	}
	for _, p := range []string{"watcher:", "socket:", "env:", "plugin:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Load translates the Circus file at path with poold's environment and
// decodes the result. The notes say what did not map; with strict, a note
// of level Warn is an error instead.
func Load(path string, strict bool) (*configs.Config, []translate.Note, error) {
	doc, err := Translate(path, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	cfg, err := doc.Config(strict)
	return cfg, doc.Notes, err
}

// iniWords tells poold's config advice in circus.ini's words.
var iniWords = strings.NewReplacer("a [sockets.NAME] section", "a [socket:NAME] section",
	// the console's TLS and token keys are poold keys in [circus]
	"TLS (web.tls_cert, web.tls_key) and a token (web.token or web.api_tokens) there; set them, or listen on 127.0.0.1",
	"TLS and a token there: set tls_cert, tls_key and token in [circus] (poold keys, which Circus ignores), or set httpd_host = 127.0.0.1")

// iniKeys names, for config errors, the circus.ini option a poold key
// came from (the sections' own names are told by translate.Section.From);
// rlimits.nofile is rlimit_nofile, and so on.
var iniKeys = func() map[string]string {
	keys := map[string]string{
		"address": "httpd_host", "stdout_log": "stdout_stream.filename", "stderr_log": "stderr_stream.filename",
		"flapping_max_retry": "max_retry", "replace_stale": "replace", "reuseport": "so_reuseport",
	}
	for _, n := range configs.RlimitNames() {
		keys["rlimits."+n] = "rlimit_" + n
	}
	return keys
}()

// translator carries one translation.
type translator struct {
	doc     *translate.Doc
	ini     *translate.INI
	path    string
	environ map[string]string // poold's environment (circusd's os.environ)
	global  map[string]string // environ plus [env]
	local   map[string]string // [env]
	umask   string            // [circus] umask, for every watcher
	flap    map[string]any    // [plugin:*] Flapping options, for every watcher
}

// Translate reads the Circus file at path (and the files it includes) and
// translates it. environ stands for circusd's environment ($VAR and
// $(circus.env.NAME) are expanded from it, as Circus does when it reads
// the file). An error means the file cannot be read or parsed.
func Translate(path string, environ []string) (*translate.Doc, error) {
	ini, err := translate.ReadINI(nil, path)
	if err != nil {
		return nil, fmt.Errorf("circusini: %w", err)
	}
	t := &translator{
		doc:     &translate.Doc{Source: path, Format: "Circus", Words: iniWords, Keys: iniKeys},
		ini:     ini,
		path:    path,
		environ: environMap(environ),
	}
	t.doc.Header = []string{
		fmt.Sprintf("poold configuration converted from the Circus file %s by `poold convert`.", path),
		"Lines starting with \"NOT MAPPED\" name options poold has no equivalent for;",
		"\"note\" lines name options that map with a different meaning. Review them.",
	}
	if err := t.includes(); err != nil {
		return nil, err
	}
	ini.ApplyDefaults()
	t.env()
	t.circus()
	t.plugins()
	t.sockets()
	t.watchers()
	for _, s := range ini.Sections {
		if !known(s.Name) {
			t.warn(t.doc.Section("arbiter"), s, "", unknownSection(s.Name))
		}
	}
	t.doc.SortSections()
	return t.doc, nil
}

func known(name string) bool {
	if name == "circus" || name == "env" {
		return true
	}
	for _, p := range []string{"watcher:", "socket:", "env:", "plugin:"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// includes reads the files named by [circus] include (globs) and
// include_dir (every *.ini in them), relative to the main file's
// directory, as Circus does.
func (t *translator) includes() error {
	c := t.ini.Section("circus")
	if c == nil {
		return nil
	}
	dir := filepath.Dir(t.path)
	type glob struct{ key, pattern string } // key: the option that gave it
	var globs []glob
	inc, _ := c.Get("include")
	for _, f := range strings.Fields(expandCircusEnv(inc, t.environ)) {
		globs = append(globs, glob{"include", f})
	}
	incDir, _ := c.Get("include_dir")
	for _, d := range strings.Fields(expandCircusEnv(incDir, t.environ)) {
		globs = append(globs, glob{"include_dir", filepath.Join(d, "*.ini")})
	}
	for _, g := range globs {
		if !filepath.IsAbs(g.pattern) {
			g.pattern = filepath.Join(dir, g.pattern)
		}
		paths, err := filepath.Glob(g.pattern)
		if err != nil || len(paths) == 0 {
			t.warn(t.doc.Section("arbiter"), c, g.key, fmt.Sprintf("%s matches no file (include paths are relative to the main file's directory, %s)", g.pattern, dir))
			continue
		}
		for _, p := range paths {
			if _, err := translate.ReadINI(t.ini, p); err != nil {
				return fmt.Errorf("circusini: included by %s: %w", t.path, err)
			}
		}
	}
	return nil
}

// env reads [env]: variables for every watcher, their values expanded
// with $(circus.env.NAME) from the environment.
func (t *translator) env() {
	t.local = map[string]string{}
	if s := t.ini.Section("env"); s != nil {
		for _, o := range s.Options {
			t.local[o.Key] = expandCircusEnv(o.Value, t.environ)
			t.warnUnsetDollar(s, o.Key, o.Value)
		}
	}
	t.global = make(map[string]string, len(t.environ)+len(t.local))
	for k, v := range t.environ {
		t.global[k] = v
	}
	for k, v := range t.local {
		t.global[k] = v
	}
}

// note helpers: each names the Circus section and key.
func (t *translator) note(level translate.Level, out *translate.Section, s *translate.INISection, key, msg string) {
	n := translate.Note{Level: level, File: s.File, Line: s.Line, Section: s.Name, Key: key, Msg: msg}
	for _, o := range s.Options {
		if o.Key == key {
			n.File, n.Line = o.File, o.Line
		}
	}
	t.doc.Note(out, n)
}

func (t *translator) warn(out *translate.Section, s *translate.INISection, key, msg string) {
	t.note(translate.Warn, out, s, key, msg)
}

func (t *translator) info(out *translate.Section, s *translate.INISection, key, msg string) {
	t.note(translate.Info, out, s, key, msg)
}

// Value conversions: a value that does not parse is passed on as
// written, so poold's decoder reports it with the key it lands on.

func toBool(v string) (any, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "on", "1":
		return true, true
	case "no", "false", "off", "0":
		return false, false
	}
	return v, false
}

func toInt(v string) any {
	if i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return i
	}
	return v
}

// toDuration renders a number of seconds as a Go duration string.
func toDuration(v string) any {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 {
		return v
	}
	return secs(f)
}

func secs(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64) + "s"
}
