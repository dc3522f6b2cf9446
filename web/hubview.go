package web

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strings"

	"github.com/gorilla/websocket"
)

// The stats stream used to send every console every worker's samples
// each round: 16-18 MB a minute per open tab at 2,000 workers, most of a
// console's bytes, though a page draws the process tables of the few
// cards in view only. Now:
//
//   - a page says which watchers' cards it shows (console_view {names}),
//     again whenever that changes; it gets the workers' samples of those
//     only, and every watcher's chart point as before; a page that also
//     gives since {name: time of its last point} (empty names while its
//     tab is hidden) gets the points of those only, and, for each it
//     starts to show, the points it missed meanwhile ("history");
//   - those samples leave out what a process keeps for its life (pid,
//     wid, its start, its restarts; its age, which the page counts from
//     the start) and, under a worker, all but what its tree's sums need;
//     the page keeps those from the row it has ("samples");
//   - a watcher the page starts to show gets its processes whole at once
//     ("procs"), so its table is current before the next round.
//
// A page that never said (one of an older poold, left open across an
// upgrade; a browser that cannot tell what is in view) gets every
// worker's samples whole, as before.

// keptFields are a process's fields that a sample leaves out for a page
// that shows its watcher: the page keeps them from the row it has.
var keptFields = map[string]bool{"pid": true, "wid": true, "started": true, "create_time": true, "restarts": true}

// treeFields are what a page needs of a worker's children: their sums.
var treeFields = []string{"cpu", "rss", "mem_info1"}

// slimSample is what a page that shows info's watcher needs of a new
// sample of it.
func slimSample(info map[string]any) map[string]any {
	out := make(map[string]any, len(info))
	for k, v := range info {
		if !keptFields[k] {
			out[k] = v
		}
	}
	if toFloat(info["started"]) > 0 || toFloat(info["create_time"]) > 0 {
		delete(out, "age")
	}
	if kids, ok := info["children"].([]any); ok {
		out["children"] = slimChildren(kids)
	}
	return out
}

func slimChildren(kids []any) []any {
	out := make([]any, 0, len(kids))
	for _, c := range kids {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		s := make(map[string]any, len(treeFields)+1)
		for _, k := range treeFields {
			if v, ok := m[k]; ok {
				s[k] = v
			}
		}
		if cs, ok := m["children"].([]any); ok && len(cs) > 0 {
			s["children"] = slimChildren(cs)
		}
		out = append(out, s)
	}
	return out
}

// setView takes a page's list of the watchers it shows and sends it,
// whole, the processes of those it did not show before: their samples
// stopped while they were out of view. The first list needs none: until
// then the page got every sample. A page that gives since (the time of
// its last chart point of each) gets chart points of the watchers it
// shows only, and for each it starts to show, the points it missed.
func (h *hub) setView(c *client, names []string, since map[string]float64) {
	sort.Strings(names)
	view := make(map[string]bool, len(names))
	var added []string
	for _, n := range names {
		view[n] = true
		if c.view != nil && !c.view[n] {
			added = append(added, n)
		}
	}
	missed := c.pointsInView // its points stopped while out of view
	c.view = view
	c.pointsInView = since != nil
	c.viewKey = strings.Join(names, "\x00")
	if c.pointsInView {
		c.viewKey = "points in view\x01" + c.viewKey
	}
	procs := map[string]map[string]map[string]any{}
	hist := map[string][]point{}
	for _, n := range added {
		w := h.byName[n]
		if w != nil && len(w.Procs) > 0 {
			procs[n] = w.Procs
		}
		if pts, ok := h.history[n]; ok && w != nil && missed {
			hist[n] = pointsAfter(lastSeconds(pts, chartWindow), since[n])
		}
	}
	if len(procs) > 0 {
		h.sendTo(c, map[string]any{"type": "stats", "procs": procs})
	}
	if len(hist) > 0 {
		h.sendTo(c, map[string]any{"type": "history", "history": hist})
	}
}

// pointsAfter is the tail of pts after time t (all of them for t 0).
func pointsAfter(pts []point, t float64) []point {
	i := sort.Search(len(pts), func(i int) bool { return pts[i][0] > t })
	return pts[i:]
}

// roundPoint rounds a chart point to what a chart can show: the time to
// the millisecond, CPU to a hundredth of a percent, memory to the byte.
func roundPoint(p point) point {
	return point{math.Round(p[0]*1000) / 1000, math.Round(p[1]*100) / 100, math.Round(p[2])}
}

// statsRound is one stats round as the consoles get it: the message for
// pages that never said what they show, and the parts the messages for
// the others are put together from.
type statsRound struct {
	whole  map[string]any // the message as every page got it before views
	head   []byte         // {"type":"stats", time, poold, sockets
	procs  map[string]map[string]map[string]any
	slim   map[string][]byte // watcher -> its encoded samples, made on demand
	points map[string]point
	all    []byte // every point encoded, made on demand
}

// broadcastStats sends a stats round to every console: whole to a page
// that never said what it shows, and to the others (one message for
// each set of watchers shown, encoded once) the samples of what they show.
func (h *hub) broadcastStats(r *statsRound) {
	var whole *websocket.PreparedMessage
	byView := map[string]*websocket.PreparedMessage{}
	for c := range h.clients {
		if c.view == nil {
			if whole == nil {
				whole = h.encode(r.whole)
			}
			if whole != nil {
				h.sendTo(c, whole)
			}
			continue
		}
		pm, ok := byView[c.viewKey]
		if !ok {
			pm = h.prepare(r.viewMessage(c.view, c.pointsInView))
			byView[c.viewKey] = pm
		}
		if pm != nil {
			h.sendTo(c, pm)
		}
	}
}

// viewMessage is the round for a page that shows the watchers in view:
// their samples, and every watcher's chart point or (pointsInView) those
// of the watchers in view.
func (r *statsRound) viewMessage(view map[string]bool, pointsInView bool) []byte {
	var b bytes.Buffer
	b.Write(r.head)
	b.WriteString(`,"points":`)
	if pointsInView {
		pts := make(map[string]point, len(view))
		for name := range view {
			if p, ok := r.points[name]; ok {
				pts[name] = p
			}
		}
		enc, _ := json.Marshal(pts) // numbers only
		b.Write(enc)
	} else {
		if r.all == nil {
			r.all, _ = json.Marshal(r.points)
		}
		b.Write(r.all)
	}
	b.WriteString(`,"samples":{`)
	first := true
	for name := range r.procs {
		if !view[name] {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		key, _ := json.Marshal(name)
		b.Write(key)
		b.WriteByte(':')
		b.Write(r.slimOf(name))
	}
	b.WriteString("}}")
	return b.Bytes()
}

// slimOf is name's samples as a page that shows it gets them, encoded
// once a round.
func (r *statsRound) slimOf(name string) []byte {
	enc, ok := r.slim[name]
	if !ok {
		slim := make(map[string]map[string]any, len(r.procs[name]))
		for pid, info := range r.procs[name] {
			slim[pid] = slimSample(info)
		}
		enc, _ = json.Marshal(slim) // JSON-native values only
		r.slim[name] = enc
	}
	return enc
}

// newStatsRound encodes the parts of msg every page gets.
func newStatsRound(msg map[string]any, procs map[string]map[string]map[string]any, points map[string]point) (*statsRound, error) {
	head := make(map[string]any, len(msg))
	for k, v := range msg {
		if k != "procs" && k != "points" {
			head[k] = v
		}
	}
	enc, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	return &statsRound{whole: msg, head: enc[:len(enc)-1], procs: procs, slim: map[string][]byte{}, points: points}, nil
}

// prepare frames an encoded message.
func (h *hub) prepare(b []byte) *websocket.PreparedMessage {
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		h.log.Error("console message does not frame", "error", err)
		return nil
	}
	return pm
}
