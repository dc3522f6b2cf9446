package main

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// negativeNumber is a positional that the flag parser would read as a
// cluster of one-letter flags: -5, -100, -0.5. No flag of poolctl is a
// digit, so such a word is always a value; Python's argparse, and so
// circusctl, reads it the same way (`circusctl set web nice -5`).
var negativeNumber = regexp.MustCompile(`^-[0-9]*\.?[0-9]+$`)

// valueArgs returns args with the values that begin with "-" moved where
// the flag parser leaves them alone: after a "--", behind the flags.
// Such a value is a negative number anywhere (`poolctl set web nice -5`,
// `poolctl decr web -1`, which then gets its own message), and any word
// at a VALUE position of set (`poolctl set web args -c`), except -h and
// the long flags (--waiting). args is returned unchanged when it has no
// such value, and for add, whose words after CMD are the worker's anyway.
func valueArgs(root *cobra.Command, args []string) []string {
	c, rest, err := root.Find(args)
	if err != nil || c == root || c.Parent() != root || c.Name() == "add" || !isSpec(c.Name()) {
		return args
	}
	c.InheritedFlags() // merges poolctl's own flags into c.Flags()
	var flags, pos []string
	moved := false
	for i := 0; i < len(rest); i++ {
		s := rest[i]
		switch {
		case s == "--":
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case !strings.HasPrefix(s, "-") || s == "-":
			pos = append(pos, s)
		case negativeNumber.MatchString(s) || (isSetValue(c.Name(), len(pos)) && !strings.HasPrefix(s, "--") && s != "-h"):
			pos = append(pos, s)
			moved = true
		default:
			flags = append(flags, s)
			if takesValue(c, s) && i+1 < len(rest) {
				i++
				flags = append(flags, rest[i])
			}
		}
	}
	if !moved {
		return args
	}
	out := append([]string{c.Name()}, flags...)
	out = append(out, "--")
	return append(out, pos...)
}

// isSpec tells whether name is one of the control commands of commandSpecs.
func isSpec(name string) bool {
	for _, s := range commandSpecs {
		if s.name == name {
			return true
		}
	}
	return false
}

// isSetValue tells whether the positional at index i of command name is
// a VALUE of set: NAME KEY VALUE KEY VALUE ...
func isSetValue(name string, i int) bool {
	return name == "set" && i >= 2 && i%2 == 0
}

// takesValue tells whether flag word s of c ("--timeout", "-n") takes
// the next word as its value.
func takesValue(c *cobra.Command, s string) bool {
	name := strings.TrimLeft(s, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := c.Flags().Lookup(name)
	if !strings.HasPrefix(s, "--") {
		if len(name) != 1 {
			return false
		}
		f = c.Flags().ShorthandLookup(name)
	}
	return f != nil && f.NoOptDefVal == ""
}
