package main

import (
	"fmt"
	"strings"
)

// order is the newcomer's order of README.md's top-level sections: try it,
// install it, a first config of one's own, TOML for INI/YAML users, what
// to look at when it fails and the words it uses, then write workers and
// a config, drive it, use it while developing, then run it in production, watch
// it, secure it, move from Circus, and last the measurements and the
// source layout. A ## heading not named here keeps its place after the
// section it followed, with a warning.
var order = []string{
	"Quick start",
	"Install",
	"Your first config",
	"TOML for INI/YAML users",
	"Troubleshooting",
	"Glossary",
	"Workers",
	"poolctl",
	"Developing with poold",
	"Configuration reference",
	"Worker logs",
	"Elastic pools: start on the first connection, scale with the accept queue",
	"Running poold",
	"Behind nginx",
	"Event and stats streams",
	"Metrics and health probes",
	"The console",
	"Security",
	"Remote control, access rules and the fleet view",
	"Coming from Circus or supervisord",
	"Circus compatibility",
	"Benchmarks",
	"Layout",
}

// The files that material moved out of README.md goes to.
const (
	resultsPath = "cmd/poold-bench/RESULTS.md"
	upgradePath = "arbiter/upgrade/README.md"
)

// benchKeep are the #### blocks of the Benchmarks section (and of its ###
// subsections) that stay in README.md; the others are history and go to
// RESULTS.md.
var benchKeep = map[string]bool{
	"Soak runs and micro-benchmarks": true,
	"Newest figures":                 true,
}

// benchMoved are the history blocks the tool expects, in README.md or
// already in RESULTS.md.
var benchMoved = [][]string{
	{"Benchmarks", "Where poolctl status and the spawn spend their time"},
	{"Benchmarks", "10,000 workers", "Runs and changes, oldest first"},
	{"Benchmarks", "10,000 workers", "Where a worker's own CPU goes"},
}

// docs are the three files the tool reads and writes, as lines.
type docs struct{ readme, results, upgrade []string }

// result is what restructure made, and what it says about it.
type result struct {
	docs
	notes []string // what moved (stdout)
	warns []string // what it left to the maintainer (stderr)
}

// restructure applies every step to the three files. An error names the
// heading it expected and did not find; nothing is written then.
func restructure(in docs) (*result, error) {
	root := parse(stripGenerated(in.readme))
	if len(root.kids) == 0 || root.kids[0].level != 1 {
		return nil, fmt.Errorf("README.md: no top heading (# poold) before the sections")
	}
	doc := root.kids[0]
	res := parse(stripGenerated(in.results))
	upg := parse(stripGenerated(in.upgrade))
	r := &result{}
	for _, step := range []func() error{
		func() error { return r.exitStatus(doc) },
		func() error { return r.commandHooks(doc) },
		func() error { return r.moveUpgrade(doc, upg) },
		func() error { return r.moveBenchmarks(doc, res) },
		func() error { return r.reorder(doc) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	r.readme = withContents(root)
	r.results = withHeader(res, resultsHeader)
	r.upgrade = withHeader(upg, upgradeHeader)
	return r, nil
}

// need returns the ## section titled title, or an error naming it.
func need(doc *section, title string) (*section, error) {
	s, _ := doc.kid(title)
	if s == nil {
		return nil, fmt.Errorf("README.md: heading %q is missing (## %s)", title, title)
	}
	return s, nil
}

// exitStatus makes the paragraph that opens with "Exit status (" in
// Running poold, and what follows it up to the next heading, a section
// of its own, so that "see "Exit status"" has somewhere to go.
func (r *result) exitStatus(doc *section) error {
	run, err := need(doc, "Running poold")
	if err != nil {
		return err
	}
	if k, _ := run.kid("Exit status"); k != nil {
		return nil
	}
	for i, l := range run.body {
		if strings.HasPrefix(l, "Exit status (") {
			es := &section{level: 3, title: "Exit status", head: "### Exit status", body: append([]string(nil), run.body[i:]...)}
			run.body = run.body[:i]
			run.kids = append([]*section{es}, run.kids...)
			r.notes = append(r.notes, `"Exit status" in "Running poold" has a heading`)
			return nil
		}
	}
	return fmt.Errorf(`README.md: heading "Exit status" is missing under "Running poold", and no paragraph there starts with "Exit status ("`)
}

// commandHooks moves "Command hooks" to the end of the configuration
// reference, where a poold user looks for it.
func (r *result) commandHooks(doc *section) error {
	cfg, err := need(doc, "Configuration reference")
	if err != nil {
		return err
	}
	if k, _ := cfg.kid("Command hooks"); k != nil {
		return nil
	}
	h, parent := doc.find("Command hooks")
	if h == nil {
		return fmt.Errorf(`README.md: heading "Command hooks" is missing`)
	}
	_, i := parent.kid("Command hooks")
	cfg.kids = append(cfg.kids, parent.remove(i))
	r.notes = append(r.notes, fmt.Sprintf(`"Command hooks" moved from %q to the end of "Configuration reference"`, parent.title))
	return nil
}
