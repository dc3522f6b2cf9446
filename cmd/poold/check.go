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
	var fileCE *configs.Error
	if cfg == nil || (fileErr != nil && (o.configOnly || !errors.As(fileErr, &fileCE))) {
		return fileErr
	}
	if o.configOnly {
		fmt.Fprintf(stdout, "%s: ok (%s; programs not checked)\n", o.path, configSize(cfg))
		return nil
	}
	var all []configs.Problem
	named := map[string]bool{}
	if fileCE != nil {
		all = fileCE.Problems
		for _, p := range all {
			named[p.Key] = true
		}
	}
	for _, err := range []error{configs.SocketProblems(o.path, cfg.Sockets), configs.ControlProblems(o.path, cfg.Arbiter),
		launch.CheckAll(o.path, cfg.Watchers), arbiter.CheckContainment(o.path, cfg.Watchers)} {
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
		return locatedIn(cfg, o.path, &configs.Error{File: o.path, Problems: all})
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
