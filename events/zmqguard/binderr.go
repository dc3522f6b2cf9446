package zmqguard

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// BindError explains a failed bind of endpoint, the value of config key
// key: the system's reason (without the transport's internal scheme,
// which names no address a user wrote) and what to do about it. It wraps
// err, so errors.Is still finds the errno.
func BindError(what, key, endpoint string, err error) error {
	reason := err.Error()
	var oe *net.OpError
	var ie *ipcErr
	switch {
	case errors.As(err, &ie): // without zmq4's "could not listen to gipc4://..."
		reason = ie.Error()
	case errors.As(err, &oe):
		reason = oe.Error()
	}
	return &bindError{msg: fmt.Sprintf("%s: %s: bind %s: %s%s", what, key, endpoint, reason, bindHint(err, key)), err: err}
}

type bindError struct {
	msg string
	err error
}

func (e *bindError) Error() string { return e.msg }
func (e *bindError) Unwrap() error { return e.err }

func bindHint(err error, key string) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "; the address is in use: another poold (or another program) is bound there; stop it or change " + key
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "; permission denied: run poold as a user allowed to bind there, or change " + key
	case errors.Is(err, syscall.ENOENT):
		return "; the socket's directory does not exist: create it or change " + key
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "; no local interface has that address: change " + key
	}
	return ""
}
