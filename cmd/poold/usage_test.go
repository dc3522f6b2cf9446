package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The usage names every signal poold answers and --version, which the
// README's upgrade section uses.
func TestUsageNamesSignalsAndVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if _, err := parseFlags([]string{"--bogus"}, &out); err == nil {
		t.Fatal("parseFlags(--bogus) succeeded")
	}
	for _, want := range []string{"SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "poold --version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not name %s:\n%s", want, out.String())
		}
	}
}

// A flag poold could not run with is bad usage at once, --check
// included, so that `poold --check` in a unit's ExecStartPre does not pass
// a command line that ExecStart then refuses; and --config-only without
// --check is refused rather than starting poold in full.
func TestFlagsPooldCannotRunWith(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, "[arbiter]\nENDPOINTS\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // were poold to start by mistake, it stops at once
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config-only", path}, "poold: --config-only works with --check only (poold --check --config-only " + path + "); without --check poold would start\n"},
		{[]string{"--check", "--log-level", "verbose", path}, "poold: --log-level \"verbose\": use trace, debug, info, warn or error\n"},
		{[]string{"--check", "--log-format", "xml", path}, "poold: --log-format \"xml\": use text or json\n"},
		{[]string{"--check", "--config-only", "--log-format", "logfmt", path}, "poold: --log-format \"logfmt\": use text or json\n"},
	} {
		t.Run(strings.Join(tc.args[:len(tc.args)-1], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := exitCode(run(ctx, tc.args, &out, &errb), &errb)
			if code != exitUsage || errb.String() != tc.want || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 64, no stdout, stderr %q", code, out.String(), errb.String(), tc.want)
			}
		})
	}
}

// TestBadFlagSaidOnce: a flag poold does not know, or one missing its
// value, was printed twice, above the usage by the flag package and
// below it by poold. It is said once, last, with the usage above it.
func TestBadFlagSaidOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus", "poold.toml"}, "flag provided but not defined: -bogus"},
		{[]string{"--log-level"}, "flag needs an argument: -log-level"},
		{[]string{"convert", "--bogus", "circus.ini"}, "flag provided but not defined: -bogus"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := exitCode(run(context.Background(), tc.args, &out, &errb), &errb)
			stderr := errb.String()
			if code != exitUsage || strings.Count(stderr, tc.want) != 1 || !strings.HasSuffix(stderr, "poold: "+tc.want+"\n") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 64 and %q once, on the last line", code, stderr, tc.want)
			}
			if !strings.Contains(stderr, "usage: poold") {
				t.Errorf("stderr:\n%s\nlacks the usage", stderr)
			}
		})
	}
}

// TestUnreadableConfigSaidOnce: a CONFIG that is missing or a directory
// read "configs: X: open X: no such file or directory" (the path twice,
// nothing to do); it is named once, with the reason and what to do, for
// poold's own formats and Circus's alike. Exit 78 (EX_CONFIG).
func TestUnreadableConfigSaidOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "poold.toml")}, "poold: configs: " + filepath.Join(dir, "poold.toml") + ": no such file or directory; check the path\n"},
		{[]string{"--check", filepath.Join(dir, "circus.ini")}, "poold: configs: " + filepath.Join(dir, "circus.ini") + ": no such file or directory; check the path\n"},
		{[]string{"--check", dir}, "poold: configs: " + dir + ": is a directory; name the config file in it\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := exitCode(run(context.Background(), tc.args, &out, &errb), &errb)
			if code != exitConfig || errb.String() != tc.want {
				t.Errorf("exit %d, stderr %q; want exit 78 and %q", code, errb.String(), tc.want)
			}
		})
	}
}
