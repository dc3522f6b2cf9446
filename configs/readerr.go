package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ReadError is the error for a config file at path that could not be
// read (err from os.ReadFile): the file once, the system's reason, and
// what to do. It wraps the errno, so errors.Is(err, fs.ErrNotExist)
// holds.
func ReadError(path string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return fmt.Errorf("configs: %s: %w", path, err)
	}
	hint := ""
	switch {
	case errors.Is(pe.Err, fs.ErrNotExist):
		hint = "; check the path"
		if wd, werr := os.Getwd(); werr == nil && len(path) > 0 && path[0] != '/' {
			hint += " (relative to " + wd + ")"
		}
	case errors.Is(pe.Err, syscall.EISDIR):
		hint = "; name the config file in it"
	case errors.Is(pe.Err, fs.ErrPermission):
		hint = fmt.Sprintf("; poold's user (uid %d) may not read it: fix its permissions or run poold as a user who may", os.Geteuid())
	}
	return fmt.Errorf("configs: %s: %w%s", path, pe.Err, hint)
}
