//go:build !linux

package worker

import (
	"errors"
	"time"
)

// queued cannot tell off Linux: every connection counts as having sent
// something, and the drain leaves silent ones to ReadHeaderTimeout.
func queued(fd uintptr) (int, error) { return 0, errors.ErrUnsupported }

// sinceData cannot tell off Linux either: a connection under a
// listener's own TLS (tls.NewListener) is left to ReadHeaderTimeout.
func sinceData(fd uintptr) (time.Duration, error) { return 0, errors.ErrUnsupported }
