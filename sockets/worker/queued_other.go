//go:build !linux

package worker

import "errors"

// queued cannot tell off Linux: every connection counts as having sent
// something, and the drain leaves silent ones to ReadHeaderTimeout.
func queued(fd uintptr) (int, error) { return 0, errors.ErrUnsupported }
