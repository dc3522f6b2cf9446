package sockets

import (
	"errors"
	"fmt"
)

// Release takes the named sockets out of the Set and closes poold's own
// fd of each, for a poold that is stopping and will start no more workers
// on them. A socket lives on in the workers that still hold it and ends
// with the last of them: from then on a connection is refused at once
// instead of waiting in a backlog nobody accepts from. A unix socket's
// file stays until Close (its clients are refused too, rather than
// finding no file). Unknown names are ignored. Release returns the
// sockets it released, with their fds closed: read only their names and
// addresses.
func (s *Set) Release(names ...string) ([]*Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var done []*Listener
	var errs []error
	for _, name := range names {
		l, ok := s.byName[name]
		if !ok {
			continue
		}
		delete(s.byName, name)
		s.released = append(s.released, l)
		done = append(done, l)
		if err := l.File.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sockets: %s: close: %w", name, err))
		}
	}
	return done, errors.Join(errs...)
}
