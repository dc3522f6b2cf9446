package supervisorini

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// exprRE matches %% (a literal %) or a %(NAME)s expression; group 2 is
// Python's conversion flags, width and precision ("02" in
// %(process_num)02d).
var exprRE = regexp.MustCompile(`%%|%\(([A-Za-z0-9_]+)\)([-#0 +]*[0-9]*(?:\.[0-9]+)?)([sd])`)

// scope is what a %(NAME)s of one section may name, as supervisord
// expands it: ENV_X, here and host_node_name everywhere; in a program
// also program_name, group_name, numprocs, process_num (poold's
// $(pool.wid)) and, in options other than environment, the variables
// of its own environment= as ENV_X.
type scope struct {
	program, group, numprocs string
	env                      map[string]string
}

// expand replaces the %(NAME)s expressions of the value v of option key
// of section s, and %% by %, as supervisord does (Python's % operator).
// A name supervisord could not expand either (unknown, or ENV_X with X
// unset) makes Translate fail naming file, line, section and key.
func (t *translator) expand(s *translate.INISection, key, v string, sc scope) string {
	var bad []string
	out := exprRE.ReplaceAllStringFunc(v, func(m string) string {
		if m == "%%" {
			return "%"
		}
		sub := exprRE.FindStringSubmatch(m)
		val, ok := t.lookup(sub[1], sc)
		if !ok {
			bad = append(bad, sub[1])
			return m
		}
		t.frozenUse(s, key, sub[1], sc)
		if sub[1] == "process_num" {
			return val // padding: paddingDropped warns
		}
		if sub[3] == "d" {
			n, err := strconv.Atoi(val)
			if err != nil {
				bad = append(bad, sub[1])
				return m
			}
			return fmt.Sprintf("%"+sub[2]+"d", n)
		}
		return fmt.Sprintf("%"+sub[2]+"s", val)
	})
	if len(bad) > 0 {
		t.refuse(s, key, t.expandError(bad, sc))
	}
	return out
}

func (t *translator) lookup(name string, sc scope) (string, bool) {
	if k, ok := strings.CutPrefix(name, "ENV_"); ok {
		if v, ok := sc.env[k]; ok {
			return v, true
		}
		v, ok := t.environ[k]
		return v, ok
	}
	switch name {
	case "here":
		return t.here, true
	case "host_node_name":
		h, _ := os.Hostname()
		return h, true
	}
	if sc.program == "" {
		return "", false
	}
	switch name {
	case "program_name":
		return sc.program, true
	case "group_name":
		return sc.group, true
	case "numprocs":
		return sc.numprocs, true
	case "process_num":
		return "$(pool.wid)", true
	}
	return "", false
}

// expandError says which names could not be expanded and which can.
func (t *translator) expandError(bad []string, sc scope) string {
	names := []string{"ENV_<variable>", "here", "host_node_name"}
	if sc.program != "" {
		names = append(names, "group_name", "numprocs", "process_num", "program_name")
	}
	sort.Strings(names)
	var unset []string
	for _, b := range bad {
		if k, ok := strings.CutPrefix(b, "ENV_"); ok {
			unset = append(unset, k)
		}
	}
	msg := fmt.Sprintf("%%(%s) cannot be expanded (supervisord refuses it too): names here are %s, and %%%% is a literal %%", strings.Join(bad, "), %("), strings.Join(names, ", "))
	if len(unset) > 0 {
		msg += fmt.Sprintf("; %s is not set in poold's environment (nor in the program's environment=): set it, or write the value", strings.Join(unset, ", "))
	}
	return msg
}

// numberingShifted warns when option o uses %(process_num) and
// numprocs_start is not 1: supervisord numbers processes from
// numprocs_start (default 0), poold's $(pool.wid) from 1, so every
// worker would get another number (a port one higher, another file).
func (t *translator) numberingShifted(out *translate.Section, s *translate.INISection, o translate.INIOption, numStart int) {
	if numStart == 1 || !strings.Contains(strings.ReplaceAll(o.Value, "%%", ""), "%(process_num)") {
		return
	}
	t.warn(out, s, o.Key, fmt.Sprintf("%%(process_num) became $(pool.wid), which counts from 1 where supervisord counts from numprocs_start (%d here): the first worker gets 1 where it got %d, and so on; set numprocs_start = 1 in the supervisord file (and change what depends on the numbers) to keep them the same", numStart, numStart))
}

// frozenUse is a %(host_node_name)s or %(ENV_X)s (X not of the program's
// own environment=) that expand replaced by the converting machine's
// value: a TOML converted once and copied to other hosts keeps it.
type frozenUse struct {
	s         *translate.INISection
	key, name string
}

func (t *translator) frozenUse(s *translate.INISection, key, name string, sc scope) {
	if k, ok := strings.CutPrefix(name, "ENV_"); ok {
		if _, own := sc.env[k]; own {
			return
		}
	} else if name != "host_node_name" {
		return
	}
	u := frozenUse{s: s, key: key, name: name}
	if !slices.Contains(t.frozen, u) {
		t.frozen = append(t.frozen, u)
	}
}

// noteFrozen notes, on out, each value of s taken from the converting
// machine, without the value (an ENV_X may be a secret), and forgets them.
func (t *translator) noteFrozen(out *translate.Section, s *translate.INISection) {
	for _, u := range t.frozen {
		if u.s != s {
			continue
		}
		msg := "%(host_node_name)s became the name of the machine where this file was converted; poold has no run-time " +
			"host name: write each host's own where the file is copied to other hosts (a Celery node name must differ per host); " +
			"run directly (poold supervisord.conf), it is the name where poold reads the file"
		if k, ok := strings.CutPrefix(u.name, "ENV_"); ok {
			msg = fmt.Sprintf("%%(%s)s became the value %s had where this file was converted (or, run directly, where poold "+
				"started), not where poold runs later", u.name, k)
			if u.key == "command" || u.key == "environment" {
				msg += fmt.Sprintf("; $(pool.env.%s) reads it at each worker's start instead, from the worker's environment "+
					"(poold's, with the copy_env a converted program has; with uid, HOME and USER are the user's)", k)
			}
		}
		t.info(out, s, u.key, msg)
	}
	t.frozen = slices.DeleteFunc(t.frozen, func(u frozenUse) bool { return u.s == s })
}
