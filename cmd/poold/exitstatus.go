package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// Exit statuses, after sysexits(3), so that a service manager can tell
// what not to restart for (systemd's RestartPreventExitStatus=64 78): a
// Go runtime crash exits 2, a start-up failure that may pass on a retry
// (a port in use, another poold on the same endpoints, a full file
// system) 1.
const (
	exitFailure = 1
	exitUsage   = 64 // EX_USAGE: bad command line
	exitConfig  = 78 // EX_CONFIG: the config cannot load or is invalid
)

// usageError is bad command-line usage: exit status 64.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// configError is a config that cannot be read, decoded or validated, or
// that --check refuses: exit status 78. The same file fails the same way
// at the next start, so restarting poold does not help.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// asConfigError marks err, when there is one, as a config error.
func asConfigError(err error) error {
	if err == nil {
		return nil
	}
	return configError{err}
}

// exitCode writes err, the error poold exits with, to stderr (as text, or
// as JSON records for a jsonError) and returns poold's exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := exitFailure
	var ue usageError
	var ce configError
	var se *arbiter.SetupError
	var wf *arbiter.WatcherFailedError
	switch {
	case errors.As(err, &wf):
		code = arbiter.ExitWatcherFailed
	case errors.As(err, &ue):
		code = exitUsage
	case configs.DiskFull(err):
		// A full file system (space, inodes, quota) passes once someone
		// frees space: whatever met it, a restart may then succeed.
	case errors.As(err, &ce), errors.As(err, &se):
		code = exitConfig
	}
	lines := strings.Split(err.Error(), "\n")
	var je jsonError
	if errors.As(err, &je) {
		// One record a line as in text, for a pipeline that parses
		// poold's log as JSON: this is the line it needs most.
		log := hclog.New(&hclog.LoggerOptions{Name: "poold", Output: stderr, JSONFormat: true})
		for _, line := range lines {
			log.Error("exiting on an error", "error", line, "exit_status", code)
		}
		return code
	}
	// Each line its own prefix: a config's problems come one a line, and
	// grep, journald and CI logs read them one by one.
	for _, line := range lines {
		fmt.Fprintln(stderr, "poold:", line)
	}
	return code
}

// jsonError is an error poold exits with while it logs in JSON
// (--log-format json or arbiter.log_format): exitCode writes it as JSON
// records, not text.
type jsonError struct{ err error }

func (e jsonError) Error() string { return e.err.Error() }
func (e jsonError) Unwrap() error { return e.err }

// inLogFormat makes *err a jsonError when poold logs in JSON (*format).
func inLogFormat(err *error, format *string) {
	if *err != nil && *format == "json" {
		*err = jsonError{*err}
	}
}
