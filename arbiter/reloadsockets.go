package arbiter

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/sockets"
)

// socketDiff names the sockets a config reload added, removed, renamed and changed
// (rebound, or its backlog or mode set anew), for the reply and the log.
type socketDiff struct {
	Added, Removed, Updated []string
	Renamed                 map[string]string // old name: new name
}

func diffSockets(old, next []configs.Socket) socketDiff {
	var d socketDiff
	was := make(map[string]configs.Socket, len(old))
	for _, s := range old {
		was[strings.ToLower(s.Name)] = s
	}
	for _, s := range next {
		key := strings.ToLower(s.Name)
		prev, ok := was[key]
		delete(was, key)
		switch {
		case !ok:
			d.Added = append(d.Added, s.Name)
		case !reflect.DeepEqual(prev, s):
			d.Updated = append(d.Updated, s.Name)
		}
	}
	for _, s := range was {
		d.Removed = append(d.Removed, s.Name)
	}
	d.pairRenames(old, next)
	return d
}

// pairRenames moves each removed socket whose endpoint an added one has
// to Renamed: the reload keeps its fd, port and path for the new name
// (sockets.Set.Apply), and "added front, removed web" would read as a
// close and a bind. A tcp socket on port 0 gets a new port, so is
// never a rename.
func (d *socketDiff) pairRenames(old, next []configs.Socket) {
	spec := func(list []configs.Socket, name string) configs.Socket {
		i := slices.IndexFunc(list, func(s configs.Socket) bool { return s.Name == name })
		return list[i]
	}
	for _, from := range slices.Clone(d.Removed) {
		was := spec(old, from)
		if was.Family != "unix" && was.Port == 0 {
			continue
		}
		for _, to := range d.Added {
			moved, now := was, spec(next, to)
			moved.Name = to
			if sockets.SameEndpoint(moved, now) {
				if d.Renamed == nil {
					d.Renamed = map[string]string{}
				}
				d.Renamed[from] = to
				if !reflect.DeepEqual(moved, now) { // its backlog or mode too
					d.Updated = append(d.Updated, to)
				}
				d.Removed = slices.DeleteFunc(d.Removed, func(n string) bool { return n == from })
				d.Added = slices.DeleteFunc(d.Added, func(n string) bool { return n == to })
				break
			}
		}
	}
}

func (d socketDiff) fields() map[string]any {
	renamed := map[string]any{}
	for from, to := range d.Renamed {
		renamed[from] = to
	}
	return map[string]any{"added": nonNil(d.Added), "removed": nonNil(d.Removed), "updated": nonNil(d.Updated), "renamed": renamed}
}

// summary is "" without a change, else e.g. "sockets: added api, removed old".
func (d socketDiff) summary() string {
	parts := changeGroups(d.Added, d.Removed, d.Updated)
	for _, from := range slices.Sorted(maps.Keys(d.Renamed)) {
		parts = append(parts, "renamed "+from+" to "+d.Renamed[from])
	}
	if len(parts) == 0 {
		return ""
	}
	return "sockets: " + strings.Join(parts, ", ")
}

// logSocketChanges logs what a config reload's sockets.Set.Apply did,
// with addresses (the reply and the summary name the sockets only):
// each socket bound anew, changed in place or renamed, from before (the
// Set's sockets before Apply) to after (them after it). It returns
// closeRemoved wrapped to log, once, each old socket it closes, with
// the address it leaves.
func logSocketChanges(log hclog.Logger, before, after []*sockets.Listener, closeRemoved func() error) func() error {
	byFD := make(map[int]*sockets.Listener, len(before))
	for _, l := range before {
		byFD[l.FD()] = l
	}
	kept := make(map[int]bool, len(after))
	for _, l := range after {
		kept[l.FD()] = true
		was, ok := byFD[l.FD()]
		switch {
		case !ok:
			log.Info("socket bound by config reload", "socket", l.Name, "address", l.Addr(), "fd", l.FD())
		case was.Name != l.Name:
			log.Info("socket renamed by config reload", "socket", l.Name, "was", was.Name, "address", l.Addr(), "fd", l.FD())
		case was.Spec != l.Spec:
			log.Info("socket changed in place by config reload", "socket", l.Name, "address", l.Addr(), "fd", l.FD())
		}
	}
	var leaving []*sockets.Listener
	for _, l := range before {
		if !kept[l.FD()] {
			leaving = append(leaving, l)
			log.Info("socket leaving by config reload: it closes once the workers that use it have stopped", "socket", l.Name, "address", l.Addr(), "fd", l.FD())
		}
	}
	var once sync.Once
	return func() error {
		err := closeRemoved()
		once.Do(func() {
			for _, l := range leaving {
				log.Info("socket closed: a config reload replaced or removed it", "socket", l.Name, "address", l.Addr())
			}
		})
		return err
	}
}
