package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fixture is a README with every heading the tool expects, in the old
// order, and a shell comment in a code block that looks like a heading.
func fixture() string {
	return `# poold

Intro [Go](#go) and ![x](web/screenshot.png).

## Quick start

` + "```" + `
make run
# not a heading
` + "```" + `

make test

## Glossary

g

## Install

i

## Troubleshooting

t

## Your first config

c

## TOML for INI/YAML users

toml

## Running poold

Signals.

Exit status (sysexits):

| 0 | ok |

### Upgrading poold in place

How-to.

#### How an upgrade works

Mechanism, see [elastic pools](#elastic-pools-start-on-the-first-connection-scale-with-the-accept-queue) and "Command hooks" below.

### Under systemd

Unit (see "Exit status").

## poolctl

Commands.

## Workers

### Go

Go text.

## Event and stats streams

e

## Behind nginx

n

## Circus compatibility

c

## Metrics and health probes

m

## The console

t

## Security

s

## Elastic pools: start on the first connection, scale with the accept queue

el

## Coming from Circus or supervisord

from

### Command hooks

hooks

## Remote control, access rules and the fleet view

r

## Configuration reference

cfg

### ` + "`[arbiter]`" + `

arb

## Worker logs

wl

## Developing with poold

dev

## Benchmarks

Method and table.

#### Where poolctl status and the spawn spend their time

History one.

#### Soak runs and micro-benchmarks

Soak.

### Rolling reload under keep-alive load

Reload.

### 10,000 workers

Intro of tenk.

#### Runs and changes, oldest first

Old runs.

#### Newest figures

Newest.

#### Where a worker's own CPU goes

CPU.

## Layout

l
`
}

func writeFixture(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runTool(t *testing.T, dir string) (string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := run([]string{"-root", dir}, &out, &errs)
	return out.String() + errs.String(), err
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range []string{"README.md", resultsPath, upgradePath} {
		b, _ := os.ReadFile(filepath.Join(dir, p))
		m[p] = string(b)
	}
	return m
}

func TestRestructuresOnceAndThenChangesNothing(t *testing.T) {
	dir := writeFixture(t, fixture())
	if out, err := runTool(t, dir); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	first := readAll(t, dir)
	readme := first["README.md"]
	var tops []string
	for _, m := range regexp.MustCompile(`(?m)^## (.*)$`).FindAllStringSubmatch(stripGen(readme), -1) {
		tops = append(tops, m[1])
	}
	if strings.Join(tops, "|") != strings.Join(order, "|") {
		t.Errorf("top-level order:\n%s\nwant\n%s", strings.Join(tops, "\n"), strings.Join(order, "\n"))
	}
	for _, want := range []string{"## Contents", "### Exit status\n\nExit status (sysexits)", "- [Configuration reference](#configuration-reference)",
		"### `[arbiter]`\n\narb\n\n### Command hooks", "#### Newest figures", "#### Soak runs", "(cmd/poold-bench/RESULTS.md)", "(arbiter/upgrade/README.md)",
		"\nmake test\n", "\nmake run\n", "# not a heading"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks %q", want)
		}
	}
	for _, gone := range []string{"History one.", "Old runs.", "CPU.", "Mechanism"} {
		if strings.Contains(readme, gone) {
			t.Errorf("README.md still has %q", gone)
		}
	}
	if r := first[resultsPath]; !strings.Contains(r, "### 10,000 workers\n\n#### Runs and changes, oldest first\n\nOld runs.") || !strings.Contains(r, "History one.") {
		t.Errorf("RESULTS.md:\n%s", r)
	}
	if u := first[upgradePath]; !strings.Contains(u, "(../../README.md#elastic-pools-start-on-the-first-connection-scale-with-the-accept-queue)") {
		t.Errorf("upgrade README: link not rebased:\n%s", u)
	}
	out, err := runTool(t, dir)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "nothing to change") {
		t.Errorf("second run says:\n%s", out)
	}
	second := readAll(t, dir)
	for p := range first {
		if first[p] != second[p] {
			t.Errorf("%s changed on the second run", p)
		}
	}
}

func stripGen(s string) string { return strings.Join(stripGenerated(strings.Split(s, "\n")), "\n") }

func TestRefusesAMissingHeadingAndWritesNothing(t *testing.T) {
	for _, drop := range []string{"## Benchmarks\n", "#### Newest figures\n", "### Command hooks\n", "#### How an upgrade works\n", "## Layout\n", "#### Runs and changes, oldest first\n"} {
		t.Run(strings.Trim(drop, "#\n "), func(t *testing.T) {
			text := strings.Replace(fixture(), drop, "", 1)
			dir := writeFixture(t, text)
			out, err := runTool(t, dir)
			name := strings.Trim(drop, "#\n ")
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want one naming %q\n%s", err, name, out)
			}
			if got := readAll(t, dir); got["README.md"] != text || got[resultsPath] != "" || got[upgradePath] != "" {
				t.Errorf("files written although it refused")
			}
		})
	}
}

func TestNothingLostCatchesADroppedOrDoubledLine(t *testing.T) {
	in := docs{readme: []string{"# t", "", "a", "b", "```", "# c", "```"}}
	for _, out := range [][]string{
		{"# t", "a", "```", "# c", "```"},
		{"# t", "a", "b", "b", "```", "# c", "```"},
		{"# t", "a", "b", "```", "```"},
	} {
		if err := checkNothingLost(in, docs{readme: out}); err == nil {
			t.Errorf("no error for %q", out)
		}
	}
	if err := checkNothingLost(in, docs{results: []string{"a", "", "b", "```", "# c", "```"}}); err == nil || !strings.Contains(err.Error(), `heading "t"`) {
		t.Errorf("a lost heading: err = %v", err)
	}
}

func TestRefusesALinkItWouldBreak(t *testing.T) {
	// With "Soak runs and micro-benchmarks" taken out of benchKeep, the
	// tool would move that block to RESULTS.md, and the README's link to
	// its anchor would lead nowhere.
	delete(benchKeep, "Soak runs and micro-benchmarks")
	defer func() { benchKeep["Soak runs and micro-benchmarks"] = true }()
	text := strings.Replace(fixture(), "Signals.", "Signals [soak](#soak-runs-and-micro-benchmarks).", 1)
	dir := writeFixture(t, text)
	_, err := runTool(t, dir)
	if err == nil || !strings.Contains(err.Error(), "#soak-runs-and-micro-benchmarks") {
		t.Fatalf("err = %v, want the broken anchor named", err)
	}
	if got := readAll(t, dir); got["README.md"] != text {
		t.Error("README.md written although it refused")
	}
}

// The repository's own README.md: the tool runs on it and a second run
// changes nothing (a merge that broke a heading the tool needs fails here
// first).
func TestOnTheRepositorysReadme(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"README.md", resultsPath, upgradePath} {
		b, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil && p == "README.md" {
			t.Fatal(err)
		}
		if err == nil {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
			os.WriteFile(filepath.Join(dir, p), b, 0o644)
		}
	}
	if out, err := runTool(t, dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	first := readAll(t, dir)
	if !regexp.MustCompile(`(?m)^make run$`).MatchString(first["README.md"]) || !regexp.MustCompile(`(?m)^make test$`).MatchString(first["README.md"]) {
		t.Error("README.md lost its make run / make test lines")
	}
	if out, err := runTool(t, dir); err != nil || !strings.Contains(out, "nothing to change") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
}
