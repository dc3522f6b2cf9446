// Command readmetool puts README.md in the order a newcomer reads it, and
// can be run again after others have edited it.
//
//	go run ./cmd/readmetool [-root DIR] [-n]
//
// It reorders the top-level sections (## headings, each with every deeper
// heading under it), writes a table of contents after the introduction,
// gives "Exit status" a heading, moves "Command hooks" to the end of the
// configuration reference, moves the #### blocks of "Upgrading poold in
// place" to arbiter/upgrade/README.md and the benchmark history (the ####
// blocks of "Benchmarks" and its subsections but "Newest figures" and "Soak
// runs and micro-benchmarks") to cmd/poold-bench/RESULTS.md, leaving a
// link. It works by headings: one it expects and finds nowhere stops it
// (exit 1, naming the heading) before anything is written. It writes
// nothing either if a line of text of the files read would be missing from
// the files written, or there more often, or if the result has a quoted
// cross-reference ("see "X"") or an anchor link that no longer resolves.
// What it writes itself sits between <!-- readmetool:begin/end --> marks
// and is written anew on each run, so a second run changes nothing.
//
// -n prints what would change and writes nothing. Exit status: 0 done (or
// nothing to do), 1 refused, 2 bad usage.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "readmetool:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "readmetool:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("readmetool", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", ".", "the repository's root, where README.md is")
	dry := fl.Bool("n", false, "print what would change, write nothing")
	if err := fl.Parse(args); err != nil {
		return usageError{err}
	}
	if fl.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: readmetool takes only flags (-root DIR, -n)", fl.Arg(0))}
	}
	paths := [3]string{"README.md", resultsPath, upgradePath}
	var in docs
	for i, dst := range []*[]string{&in.readme, &in.results, &in.upgrade} {
		l, err := readLines(filepath.Join(*root, paths[i]), i > 0)
		if err != nil {
			return err
		}
		*dst = l
	}
	r, err := restructure(in)
	if err != nil {
		return err
	}
	if err := checkNothingLost(in, r.docs); err != nil {
		return err
	}
	if err := checkRefs(in, r.docs, stderr); err != nil {
		return err
	}
	for _, w := range r.warns {
		fmt.Fprintln(stderr, "readmetool: warning:", w)
	}
	for _, n := range r.notes {
		fmt.Fprintln(stdout, n)
	}
	outs := [3][]string{r.readme, r.results, r.upgrade}
	ins := [3][]string{in.readme, in.results, in.upgrade}
	changed := 0
	for i, p := range paths {
		if join(outs[i]) == join(ins[i]) {
			continue
		}
		changed++
		fmt.Fprintf(stdout, "%s: %d lines -> %d\n", p, len(ins[i]), len(outs[i]))
		if *dry {
			continue
		}
		full := filepath.Join(*root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(full, []byte(join(outs[i])), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if changed == 0 {
		fmt.Fprintln(stdout, "nothing to change")
	}
	return nil
}

// checkRefs refuses a result with a quoted cross-reference or an anchor
// link that resolved before and does not now; those that did not resolve
// before are only listed.
func checkRefs(in, out docs, stderr io.Writer) error {
	var bad []string
	for _, c := range []struct {
		what string
		of   func(docs) []string
	}{
		{"quoted cross-reference", unresolvedRefs},
		{"anchor link", brokenAnchors},
	} {
		before, after := c.of(in), c.of(out)
		for _, s := range before {
			fmt.Fprintf(stderr, "readmetool: warning: %s that resolves nowhere (already before this run): %s\n", c.what, s)
		}
		for _, s := range newOnes(before, after) {
			bad = append(bad, c.what+" no longer resolves: "+s)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("nothing written:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

// readLines reads a file as lines; a missing file may be optional (the
// moved-to files before the first run).
func readLines(path string, optional bool) ([]string, error) {
	b, err := os.ReadFile(path)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w (run readmetool at the repository's root, or give -root)", path, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\n"), nil
}

func join(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
