package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// addProps reads NAME CMD [ARG...]. poolctl's flags end at NAME (what
// follows CMD is the worker's command line), so a flag written between
// NAME and CMD, `add web --start sh`, would become the program itself:
// refused, with the order that works. A program whose name starts with
// '-' can still be given as ./-name.
func addProps(c *cobra.Command, args []string) (map[string]any, error) {
	name, prog := args[0], args[1]
	if strings.TrimSpace(name) == "" {
		return nil, usagef("add: NAME is empty: name the new watcher (usage: poolctl add [--start] NAME CMD [ARG...], e.g. poolctl add worker sleep 60)")
	}
	if strings.TrimSpace(prog) == "" {
		return nil, usagef("add: CMD of watcher %q is empty: give the program to run (usage: poolctl add [--start] NAME CMD [ARG...])", name)
	}
	if prog == "--" {
		return nil, usagef("add: %q after NAME %q would be the program to run; leave it out: everything after CMD is already its command line (usage: poolctl add [--start] NAME CMD [ARG...])", prog, name)
	}
	if strings.HasPrefix(prog, "-") {
		rest := "CMD [ARG...]"
		if len(args) > 2 {
			rest = strings.Join(args[2:], " ")
		}
		return nil, usagef("add: %q after NAME %q would be the program to run; put poolctl's flags before NAME: poolctl add %s %s %s (a program named %s: write ./%s)",
			prog, name, prog, name, rest, prog, prog)
	}
	start, _ := c.Flags().GetBool("start")
	p := map[string]any{"name": name, "cmd": prog, "start": start}
	if len(args) > 2 {
		p["args"] = args[2:]
		warnFlagsAfterCmd(c, name, args[2:])
	}
	return p, nil
}

// parseGrace reads kill's --graceful-timeout as parseDuration does, and
// 0 too, as poold takes it (and graceful_timeout = 0 in a config): SIGKILL
// right after the signal.
func parseGrace(s string) (time.Duration, error) {
	f, ferr := strconv.ParseFloat(s, 64)
	d, derr := time.ParseDuration(s)
	switch {
	case (ferr == nil && f < 0) || (derr == nil && d < 0):
		return 0, fmt.Errorf("must be >= 0 (0 sends SIGKILL right after the signal), got %s", s)
	case (ferr == nil && f == 0) || (derr == nil && d == 0):
		return 0, nil
	}
	return parseDuration(s)
}

func optionalName(c *cobra.Command, args []string) (map[string]any, error) {
	p := map[string]any{}
	if len(args) > 0 {
		p["name"] = args[0]
	}
	return p, nil
}

// matchFlag is circusctl's --match of start, stop and restart.
func matchFlag(fs *pflag.FlagSet) {
	fs.String("match", "", "how NAME matches watcher names: glob (the default: web-*), regex or simple")
}

// matchedName is optionalName with --match.
func matchedName(c *cobra.Command, args []string) (map[string]any, error) {
	p, _ := optionalName(c, args)
	if m, _ := c.Flags().GetString("match"); m != "" {
		switch m {
		case "glob", "regex", "simple":
		default:
			return nil, usagef("%s: --match %q is no match method: use glob (the default: web-*), regex or simple (the exact name)", c.Name(), m)
		}
		p["match"] = m
	}
	return p, nil
}

// circusKillFlags reads circusctl's names of kill's flags as poolctl's:
// --signum is --signal, --graceful_timeout --graceful-timeout.
func circusKillFlags(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "signum":
		name = "signal"
	case "graceful_timeout":
		name = "graceful-timeout"
	}
	return pflag.NormalizedName(name)
}

func scaleProps(c *cobra.Command, args []string) (map[string]any, error) {
	p := map[string]any{"name": args[0], "nb": 1}
	if len(args) == 2 {
		nb, err := strconv.Atoi(args[1])
		if err != nil || nb < 0 {
			return nil, usagef("%s: NB must be a whole number >= 0, got %q (usage: poolctl %s NAME [NB])", c.Name(), args[1], c.Name())
		}
		p["nb"] = nb
	}
	return p, nil
}

// warnFlagsAfterCmd warns on stderr of each of poolctl's own flags among
// the worker's words of add: they go to the worker, not to poolctl, so
// circusctl's form `add web CMD --start` added a stopped watcher whose
// workers got a --start, and an --endpoint there was not the poold asked.
func warnFlagsAfterCmd(c *cobra.Command, name string, words []string) {
	for _, w := range words {
		flag, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !strings.HasPrefix(w, "--") || flag == "help" || c.Flags().Lookup(flag) == nil {
			continue
		}
		fmt.Fprintf(c.ErrOrStderr(), "poolctl: warning: %s comes after CMD, so it is an argument of the worker, not a flag of poolctl; put poolctl's flags before NAME (poolctl add %s %s ...)\n",
			w, w, name)
	}
}

func setProps(c *cobra.Command, args []string) (map[string]any, error) {
	kv := args[1:]
	if len(kv)%2 != 0 {
		return nil, usagef("set: option %q has no VALUE (usage: poolctl set NAME KEY VALUE [KEY VALUE...])", kv[len(kv)-1])
	}
	opts := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		opts[kv[i]] = parseValue(kv[i+1])
		if _, list := opts[kv[i]].([]any); !list && (kv[i] == "args" || kv[i] == "cmd") {
			// Command-line words: "200" or "true" is a word, as circusctl
			// sends it, not a JSON number or bool (refused for these keys).
			opts[kv[i]] = kv[i+1]
		}
	}
	return map[string]any{"name": args[0], "options": opts}, nil
}

// parseValue reads a set VALUE as JSON when it is valid JSON, else as a
// string: "8" is a number, "true" a bool, "10s" and "022" strings.
func parseValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	return s
}

// positiveInt reads argument what of c, naming c and its usage if it is
// not a whole number > 0.
func positiveInt(c *cobra.Command, what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, usagef("%s: %s must be a positive whole number, got %q (usage: poolctl %s)", c.Name(), what, s, c.Use)
	}
	return n, nil
}
