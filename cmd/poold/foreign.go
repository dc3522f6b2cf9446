package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/circusini"
	"github.com/poold/poold/configs/supervisorini"
	"github.com/poold/poold/configs/translate"
)

// ownFormats are the extensions configs.Load reads itself.
var ownFormats = map[string]bool{".toml": true, ".yaml": true, ".yml": true, ".json": true}

// foreignKind says whether path is a Circus or a supervisord file, by its
// first section, when the extension is not one of poold's own ("" when
// it is). A file that is neither is an error saying what was looked for
// and what was found.
func foreignKind(path string) (string, error) {
	if ownFormats[strings.ToLower(filepath.Ext(path))] {
		return "", nil
	}
	data, err := configs.ReadConfigFile(path) // not whole, if it is huge
	if err != nil {
		return "", err
	}
	switch {
	case circusini.Detect(data):
		return "circus", nil
	case supervisorini.Detect(data):
		return "supervisord", nil
	}
	return "", unknownFormat(path, data)
}

// unknownFormat is the error for a file poold cannot tell the format of.
func unknownFormat(path string, data []byte) error {
	n, line := translate.FirstLine(data)
	found := "it holds no section (nothing but blank lines and comments)"
	switch {
	case n > 0 && translate.FirstSection(data) != "":
		found = fmt.Sprintf("its first section is %s (line %d)", line, n)
	case n > 0:
		found = fmt.Sprintf("its first line (%d) is not a section header: %.60q", n, line)
	}
	return fmt.Errorf("configs: %s: not a configuration poold can tell the format of: a Circus file starts with [circus], [watcher:NAME], [socket:NAME], [env], [env:NAMES] or [plugin:NAME], a supervisord one with [supervisord], [program:NAME], [fcgi-program:NAME], [group:NAME] or [include]; %s. Start the file with one of those sections, or name a poold file .toml, .yaml, .yml or .json", path, found)
}

// translateFile translates a Circus or supervisord file; ok is false when
// path is neither.
func translateFile(path string) (doc *translate.Doc, ok bool, err error) {
	kind, err := foreignKind(path)
	switch {
	case err != nil:
		return nil, true, err
	case kind == "circus":
		doc, err = circusini.Translate(path, os.Environ())
	case kind == "supervisord":
		doc, err = supervisorini.Translate(path, os.Environ())
	default:
		return nil, false, nil
	}
	return doc, true, err
}

// loadConfig loads CONFIG in any format poold runs: its own (TOML, YAML,
// JSON) or a Circus or supervisord file, translated. Notes on options
// that did not map go to notes (one line each); with strict they are an
// error instead. They join the config's own warnings
// (configs.Config.Warnings), which go to notes too.
func loadConfig(path string, strict bool, notes io.Writer) (*configs.Config, error) {
	cfg, err := loadPartial(path, strict, notes)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadPartial is loadConfig, but a file of poold's own format whose
// values have problems comes back decoded too, with them
// (configs.LoadPartial), for --check to run the machine checks on.
func loadPartial(path string, strict bool, notes io.Writer) (*configs.Config, error) {
	doc, foreign, err := translateFile(path)
	if err != nil {
		return nil, err
	}
	var cfg *configs.Config
	if foreign {
		cfg, err = doc.Config(strict)
	} else {
		cfg, err = configs.LoadPartial(path)
	}
	if err != nil {
		return cfg, err
	}
	if foreign { // among the config's warnings, so a reload reports them too
		var lines []string
		for _, n := range doc.Warnings() {
			lines = append(lines, n.String())
		}
		cfg.Warnings = append(lines, cfg.Warnings...)
		cfg.SourceTerms = doc.InSourceTerms
	}
	printWarnings(notes, cfg.Warnings)
	return cfg, nil
}

// printWarnings writes a config's warnings, one a line, as text.
func printWarnings(w io.Writer, warnings []string) {
	for _, n := range warnings {
		fmt.Fprintln(w, "poold: warning:", n)
	}
}

// inSourceTerms rewrites err's problems, found in the config read from
// path, in the terms of the Circus or supervisord file it was translated
// from ("supervisord.conf:7: [program:r] directory"), as Load's own
// problems are; err is returned as it is for poold's own formats.
func inSourceTerms(path string, err error) error {
	var ce *configs.Error
	if !errors.As(err, &ce) {
		return err
	}
	if doc, foreign, terr := translateFile(path); terr == nil && foreign {
		doc.InSourceTerms(ce)
	}
	return err
}

// locatedIn is inSourceTerms for err's problems found in cfg after it
// loaded (the checks of the machine): of a file of poold's own format,
// each names the line and column of its key, as the problems Load finds
// do (configs.Config.Locate).
func locatedIn(cfg *configs.Config, path string, err error) error {
	var ce *configs.Error
	if errors.As(err, &ce) {
		cfg.Locate(ce)
	}
	return inSourceTerms(path, err)
}

// runConvert is `poold convert [--strict] FILE`: the TOML equivalent of a
// Circus or supervisord file on stdout, notes as comments; each option
// without an equivalent also as a warning on stderr.
func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("poold convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict", false, "fail (exit 1, no output) when an option has no poold equivalent")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: poold convert [--strict] FILE > poold.toml\n\nWrites the poold TOML equivalent of a Circus (circus.ini) or supervisord\nconfiguration, with a comment for each option that has no equivalent or\nmeans something else in poold.\n\nflags:")
		fs.PrintDefaults()
	}
	path, err := parseOneFile(fs, args, "expected exactly one FILE to convert, e.g. poold convert circus.ini > poold.toml")
	if err != nil {
		return err
	}
	doc, foreign, err := translateFile(path)
	if err != nil {
		return err
	}
	if !foreign {
		return fmt.Errorf("convert: %s is neither a Circus file (first section [circus], [watcher:NAME], [socket:NAME], [env], [env:NAMES] or [plugin:NAME]) nor a supervisord one ([supervisord], [program:NAME], ...); poold runs TOML, YAML and JSON as they are", path)
	}
	warnings := doc.Warnings()
	if *strict && len(warnings) > 0 {
		return &translate.StrictError{Notes: warnings}
	}
	// The result must load as it is written; a problem (a missing
	// working_dir, an unknown user) is reported after the output.
	_, cfgErr := doc.Config(false)
	if err := doc.WriteTOML(stdout); err != nil {
		return err
	}
	for _, n := range warnings {
		fmt.Fprintln(stderr, "poold: warning:", n)
	}
	if cfgErr != nil {
		return fmt.Errorf("convert: the result does not load yet; fix these in %s or in the output:\n%w", path, cfgErr)
	}
	return nil
}
