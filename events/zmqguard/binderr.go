package zmqguard

import (
	"errors"
	"net"
	"syscall"
)

// BindErr is a failed bind of Endpoint, the value of config key Key: the
// system's reason (without the transport's internal scheme, which names
// no address a user wrote, and without the address said twice) and what
// to do about it. It reads
//
//	arbiter.endpoint: bind tcp://127.0.0.1:5555: address already in use (another program is bound there; stop it or change arbiter.endpoint)
//
// or, once the caller that loaded the config has set File (and, for a
// tcp endpoint, a Hint naming the holder),
//
//	poold.toml: arbiter.endpoint: bind tcp://127.0.0.1:5555: address already in use (pid 812 (poold) holds it; stop that process or change arbiter.endpoint)
//
// It wraps the system's error, so errors.Is still finds the errno.
type BindErr struct {
	File     string // the config file, when the caller knows it
	Key      string // "arbiter.endpoint", "pubsub_endpoint", ...
	Endpoint string
	Reason   string // "address already in use"
	Hint     string // what to do; may be ""
	// ByOther: the address's holder is known, and is no poold (set by
	// poold's start, which names it in Hint).
	ByOther bool
	Err     error
}

func (e *BindErr) Error() string {
	s := ""
	if e.File != "" {
		s = e.File + ": "
	}
	s += e.Key + ": bind " + e.Endpoint + ": " + e.Reason
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *BindErr) Unwrap() error { return e.Err }

// BindError explains a failed bind of endpoint, the value of config key
// key, as a *BindErr.
func BindError(key, endpoint string, err error) error {
	return &BindErr{Key: key, Endpoint: endpoint, Reason: bindReason(err), Hint: bindHint(err, key), Err: err}
}

// bindReason is the system's reason alone when it is an errno (net's
// "listen tcp ADDR: bind: " repeats the address the message names), else
// the transport's words.
func bindReason(err error) string {
	var ie *ipcErr
	var oe *net.OpError
	var errno syscall.Errno
	switch {
	case errors.As(err, &ie) && ie.inUse:
		return "another poold is already listening there"
	case errors.As(err, &ie) && !errors.As(ie.err, &oe): // poold's own words about an ipc path
		return ie.Error()
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &oe):
		return oe.Error()
	}
	return err.Error()
}

func bindHint(err error, key string) string {
	switch {
	case errors.As(err, new(*ipcErr)) && errors.Is(err, syscall.EADDRINUSE):
		return "stop it or change " + key
	case errors.Is(err, syscall.EADDRINUSE):
		return "another poold or another program is bound there; stop it or change " + key
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "run poold as a user allowed to bind there, or change " + key
	case errors.Is(err, syscall.ENOENT):
		return "the socket's directory does not exist: create it or change " + key
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no local interface has that address: change " + key
	}
	return ""
}
