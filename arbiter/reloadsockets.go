package arbiter

import (
	"reflect"
	"strings"

	"github.com/poold/poold/configs"
)

// socketDiff names the sockets a config reload added, removed and changed
// (rebound, or its backlog or mode set anew), for the reply and the log.
type socketDiff struct{ Added, Removed, Updated []string }

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
	return d
}

func (d socketDiff) fields() map[string]any {
	return map[string]any{"added": nonNil(d.Added), "removed": nonNil(d.Removed), "updated": nonNil(d.Updated)}
}

// summary is "" without a change, else e.g. "sockets: added api, removed old".
func (d socketDiff) summary() string {
	parts := changeGroups(d.Added, d.Removed, d.Updated)
	if len(parts) == 0 {
		return ""
	}
	return "sockets: " + strings.Join(parts, ", ")
}
