package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/launch"
)

// checkOnly is poold --check: the config loaded, then, unless
// --config-only, the checks of this machine: its programs, users and
// unix socket paths, ports poold may not bind, limits without cgroups.
// Those run on what of the file could be decoded even when it has
// problems of its own, so that one run prints every problem; a machine
// problem of a key the file's problems name already is left out.
func checkOnly(o cmdline, stdout, stderr io.Writer) error {
	cfg, fileErr := loadPartial(o.path, o.strict, stderr)
	if cfg == nil || (fileErr != nil && o.configOnly) {
		return fileErr
	}
	if o.configOnly {
		fmt.Fprintf(stdout, "%s: ok (%s; programs not checked)\n", o.path, configSize(cfg))
		return nil
	}
	if err := everyProblem(o.path, cfg, fileErr); err != nil {
		return err
	}
	warnFds(o.path, cfg, stdout)
	warnHeld(o.path, cfg, stdout)
	for _, w := range append(arbiter.OOMWarnings(cfg.Watchers), arbiter.MemoryMaxWarnings(cfg.Watchers)...) {
		fmt.Fprintf(stdout, "%s: warning: %s\n", o.path, w)
	}
	fmt.Fprintf(stdout, "%s: ok (%s)\n", o.path, configSize(cfg))
	return nil
}

// warnFds says when this shell's open-file limit falls short of what the
// config's autostarted workers need of poold's (arbiter.FdsNeeded).
func warnFds(path string, cfg *configs.Config, stdout io.Writer) {
	var autostart []configs.Watcher
	for _, w := range cfg.Watchers {
		if w.Autostart {
			autostart = append(autostart, w)
		}
	}
	if limit, ok := arbiter.NofileLimit(); ok {
		if why := arbiter.FdsNeeded(autostart, len(cfg.Sockets)).Problem(limit); why != "" {
			fmt.Fprintf(stdout, "%s: warning: %s (the limit of this shell: poold gets its own from how it is started)\n", path, why)
		}
	}
}

// everyProblem is what --check reports of the config at path: the
// file's problems (fileErr, with cfg what LoadPartial could decode of
// it) joined by this machine's (programs, users, unix socket paths,
// containment) on what could be decoded, one run naming every problem;
// a machine problem of a key the file's problems name already is left
// out. A start and a reload report the same, so that a file error no
// longer hides a missing program until the next attempt. nil when there
// is none; fileErr as it is when it is not a list of problems (a syntax
// error leaves nothing decoded).
func everyProblem(path string, cfg *configs.Config, fileErr error) error {
	var fileCE *configs.Error
	if cfg == nil || (fileErr != nil && !errors.As(fileErr, &fileCE)) {
		return fileErr
	}
	var all []configs.Problem
	named := map[string]bool{}
	if fileCE != nil {
		all = fileCE.Problems
		for _, p := range all {
			named[p.Key] = true
		}
	}
	for _, err := range []error{configs.SocketProblems(path, cfg.Sockets), configs.ControlProblems(path, cfg.Arbiter),
		launch.CheckAll(path, cfg.Watchers), arbiter.CheckContainment(path, cfg.Watchers), configs.PlaceProblems(path, cfg)} {
		var ce *configs.Error
		switch {
		case errors.As(err, &ce):
			for _, p := range ce.Problems {
				if !named[p.Key] {
					all = append(all, p)
				}
			}
		case err != nil:
			return err
		}
	}
	if len(all) > 0 {
		return locatedIn(cfg, path, &configs.Error{File: path, Problems: all})
	}
	return nil
}

// configSize says how many sockets and watchers cfg has: "1 socket, 2
// watchers".
func configSize(cfg *configs.Config) string {
	return counted(len(cfg.Sockets), "socket") + ", " + counted(len(cfg.Watchers), "watcher")
}

// counted is n and word, in the plural unless n is 1.
func counted(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
