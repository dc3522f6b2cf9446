package web

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
)

// client is one open console as the hub sees it: a bounded queue drained by
// the connection's writer, and a quit signal.
type client struct {
	send   chan *websocket.PreparedMessage
	quit   chan struct{}
	once   sync.Once
	remote string
	// drop closes the network connection at once, unblocking a writer
	// stuck on a peer that does not read.
	drop func()
	// since is the last event seq a reconnecting console saw (?since=).
	since uint64
}

func newClient(queue int, remote string, drop func()) *client {
	return &client{send: make(chan *websocket.PreparedMessage, queue), quit: make(chan struct{}), remote: remote, drop: drop}
}

// offer queues m without blocking; false means the queue is full.
func (c *client) offer(m *websocket.PreparedMessage) bool {
	select {
	case c.send <- m:
		return true
	default:
		return false
	}
}

// kill asks the writer to close the connection. Safe to call more than once.
func (c *client) kill() { c.once.Do(func() { close(c.quit) }) }

// refreshJob asks the refresher for the whole state (all) or some watchers.
type refreshJob struct {
	all   bool
	names []string
}

type refreshResult struct {
	job      refreshJob
	state    *stateView              // when job.all
	watchers map[string]*watcherView // name -> view, nil view = removed
	err      error
}

// point is one CPU/RSS sample of a watcher: unix seconds, CPU % (sum over
// processes), RSS bytes (sum).
type point [3]float64

// wireEvent is a lifecycle event as the page receives it.
type wireEvent struct {
	Seq     uint64         `json:"seq"`
	Time    float64        `json:"time"`
	Topic   string         `json:"topic"`
	Watcher string         `json:"watcher"`
	Kind    events.Kind    `json:"kind"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// hub owns the model and the clients (see the package comment).
type hub struct {
	s   *Server
	log hclog.Logger
	t   tunings

	reg     chan *client
	unreg   chan *client
	touch   chan string // a watcher name to refresh soon; "" = everything
	jobs    chan refreshJob
	results chan refreshResult
	done    chan struct{} // closed when run returns

	// Everything below belongs to the run goroutine.
	clients  map[*client]struct{}
	state    *stateView
	byName   map[string]*watcherView
	byTopic  map[string]string // topic form of a name -> name
	history  map[string][]point
	recent   []wireEvent // newest last, at most t.recentEvents
	reaped   map[string]time.Time
	lastSeq  uint64
	sent     uint64 // events up to this seq reached every console (replay.go)
	pending  []wireEvent
	statBuf  []events.Event
	dirty    map[string]bool
	dirtyAll bool
	busy     bool // the refresher has a job
}

func newHub(s *Server, _ context.Context) *hub {
	return &hub{
		s: s, log: s.log, t: s.tunings,
		reg:     make(chan *client),
		unreg:   make(chan *client),
		touch:   make(chan string, 64),
		jobs:    make(chan refreshJob, 1),
		results: make(chan refreshResult),
		done:    make(chan struct{}),
		clients: map[*client]struct{}{},
		state:   &stateView{},
		byName:  map[string]*watcherView{},
		byTopic: map[string]string{},
		history: map[string][]point{},
		reaped:  map[string]time.Time{},
		dirty:   map[string]bool{},
	}
}

// register hands c to the hub; false when the hub has ended.
func (h *hub) register(c *client) bool {
	select {
	case h.reg <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *hub) unregister(c *client) {
	select {
	case h.unreg <- c:
	case <-h.done:
	}
}

// poke asks for a refresh of name soon, without blocking: if the hub is
// busy, the periodic resync catches up.
func (h *hub) poke(name string) {
	select {
	case h.touch <- name:
	default:
	}
}

// stoppedTimer returns a timer that is not running (Go 1.23 timers need no
// draining on Reset).
func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// subscribe opens the hub's subscriptions to the event and stats buses
// (either may be absent) and returns their channels and the cleanup.
func (h *hub) subscribe() (evC, stC <-chan events.Event, unsubscribe func()) {
	var closers []func()
	if h.s.opts.Events != nil {
		sub := h.s.opts.Events.Subscribe(events.DefaultQueue, "watcher.", "arbiter.")
		h.s.hubSubs.Store(sub)
		h.startReplay()
		closers = append(closers, func() {
			h.s.hubSubs.Store(nil)
			h.s.dropped.Add(sub.Dropped())
			sub.Close()
		})
		evC = sub.C()
	}
	if h.s.opts.Stats != nil {
		sub := h.s.opts.Stats.Subscribe(events.DefaultQueue, "stat.")
		closers = append(closers, sub.Close)
		stC = sub.C()
	}
	return evC, stC, func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
}

// join adds a console, on the hub's goroutine, and greets it with the
// state and the history it has not seen.
func (h *hub) join(c *client) {
	h.clients[c] = struct{}{}
	h.s.nconsoles.Store(int64(len(h.clients)))
	h.sendTo(c, h.helloMessage(c.since))
	h.log.Debug("console connected", "remote", c.remote, "consoles", len(h.clients))
}

// leave drops a console, on the hub's goroutine.
func (h *hub) leave(c *client) {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.s.nconsoles.Store(int64(len(h.clients)))
		h.log.Debug("console disconnected", "remote", c.remote, "consoles", len(h.clients))
	}
}

// flushEvents sends the events gathered since the last flush to every
// console in one message.
func (h *hub) flushEvents() {
	if len(h.pending) > 0 {
		h.broadcast(map[string]any{"type": "events", "events": h.pending})
		h.sent = h.pending[len(h.pending)-1].Seq
		h.pending = nil
	}
}

// markFailed marks what a failed refresh was for as still to refresh.
func (h *hub) markFailed(job refreshJob) {
	if job.all {
		h.dirtyAll = true
	}
	for _, n := range job.names {
		h.dirty[n] = true
	}
}

func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	evC, stC, unsubscribe := h.subscribe()
	defer unsubscribe()
	evT, stT, rfT := stoppedTimer(), stoppedTimer(), stoppedTimer()
	defer evT.Stop()
	defer stT.Stop()
	defer rfT.Stop()
	var evArmed, stArmed, rfArmed bool
	armRefresh := func(d time.Duration) {
		if !rfArmed && !h.busy {
			rfT.Reset(d)
			rfArmed = true
		}
	}
	resync := time.NewTicker(h.t.resync)
	defer resync.Stop()

	defer func() {
		for c := range h.clients {
			c.kill()
		}
		h.s.nconsoles.Store(0)
	}()

	h.dirtyAll = true
	armRefresh(0)
	for {
		select {
		case <-ctx.Done():
			return

		case c := <-h.reg:
			h.join(c)

		case c := <-h.unreg:
			h.leave(c)

		case ev := <-evC:
			if ev.Seq <= h.sent {
				break // published before the hub began: in every hello
			}
			for _, missed := range h.refill(ev) {
				h.applyEvent(missed)
			}
			h.applyEvent(ev)
			if !evArmed {
				evT.Reset(h.t.eventFlush)
				evArmed = true
			}
			armRefresh(h.t.refreshDelay)

		case <-evT.C:
			evArmed = false
			h.flushEvents()

		case ev := <-stC:
			h.statBuf = append(h.statBuf, ev)
			if !stArmed {
				stT.Reset(h.t.statsFlush)
				stArmed = true
			}

		case <-stT.C:
			stArmed = false
			h.flushStats()

		case name := <-h.touch:
			if name == "" {
				h.dirtyAll = true
			} else {
				h.dirty[h.watcherFor(name)] = true
			}
			armRefresh(h.t.refreshDelay)

		case <-h.s.fleet.kick:
			h.broadcast(h.s.fleet.snapshot())

		case <-resync.C:
			if len(h.clients) > 0 {
				h.dirtyAll = true
				armRefresh(0)
			}

		case <-rfT.C:
			rfArmed = false
			h.dispatchRefresh()

		case r := <-h.results:
			h.busy = false
			h.applyRefresh(r)
			if r.err != nil {
				h.markFailed(r.job)
				armRefresh(h.t.retry)
			} else if h.dirtyAll || len(h.dirty) > 0 {
				armRefresh(h.t.refreshDelay)
			}
		}
	}
}

// dispatchRefresh hands the dirty set to the refresher.
func (h *hub) dispatchRefresh() {
	if h.busy || (!h.dirtyAll && len(h.dirty) == 0) {
		return
	}
	job := refreshJob{all: h.dirtyAll}
	if !job.all {
		for n := range h.dirty {
			job.names = append(job.names, n)
		}
		sort.Strings(job.names)
	}
	h.dirtyAll = false
	clear(h.dirty)
	h.busy = true
	h.jobs <- job // capacity 1 and the refresher is idle: never blocks
}

// refresher runs the backend calls of refresh jobs, one at a time.
func (h *hub) refresher(ctx context.Context) {
	for {
		var job refreshJob
		select {
		case <-ctx.Done():
			return
		case job = <-h.jobs:
		}
		cctx, cancel := context.WithTimeout(ctx, h.t.backendTO)
		r := refreshResult{job: job}
		if job.all {
			r.state, r.err = loadAll(cctx, h.s.opts.Backend)
		} else {
			r.watchers = map[string]*watcherView{}
			for _, n := range job.names {
				w, err := loadWatcher(cctx, h.s.opts.Backend, n)
				if err != nil {
					r.err = err
					break
				}
				r.watchers[n] = w
			}
		}
		cancel()
		select {
		case h.results <- r:
		case <-ctx.Done():
			return
		}
	}
}

func (h *hub) applyRefresh(r refreshResult) {
	if r.err != nil {
		if h.state.Error == "" {
			h.log.Warn("console refresh failed", "error", r.err)
		}
		msg := "cannot read poold's state: " + r.err.Error()
		if h.state.Error != msg {
			h.state.Error = msg
			h.broadcast(map[string]any{"type": "state", "state": h.state})
		}
		return
	}
	if r.job.all {
		r.state.Error = ""
		h.state = r.state
		clear(h.byName)
		clear(h.byTopic)
		for _, w := range h.state.Watchers {
			h.dropReaped(w)
			h.byName[w.Name] = w
			h.byTopic[events.TopicName(w.Name)] = w.Name
		}
		for name := range h.history {
			if h.byName[name] == nil {
				delete(h.history, name)
			}
		}
		h.broadcast(map[string]any{"type": "state", "state": h.state})
		return
	}
	h.state.Error = ""
	for _, name := range r.job.names {
		w := r.watchers[name]
		old := h.byName[name]
		switch {
		case w == nil && old == nil:
			continue
		case w == nil:
			delete(h.byName, name)
			delete(h.byTopic, events.TopicName(name))
			delete(h.history, name)
			h.rebuildList()
			h.broadcast(map[string]any{"type": "watcher", "name": name, "removed": true})
			continue
		case old == nil:
			h.byName[name] = w
			h.byTopic[events.TopicName(name)] = name
			h.rebuildList()
		default:
			// Keep the live samples of processes the refresh saw too:
			// stats replies and stats events carry the same fields.
			*old = *w
			w = old
		}
		h.dropReaped(w)
		h.broadcast(map[string]any{"type": "watcher", "watcher": w})
	}
}

func (h *hub) rebuildList() {
	h.state.Watchers = h.state.Watchers[:0]
	for _, w := range h.byName {
		h.state.Watchers = append(h.state.Watchers, w)
	}
	sort.Slice(h.state.Watchers, func(i, j int) bool { return h.state.Watchers[i].Name < h.state.Watchers[j].Name })
}

// dropReaped removes processes the model has seen reaped but a slower
// reply still lists.
func (h *hub) dropReaped(w *watcherView) {
	for pid := range w.Procs {
		if _, ok := h.reaped[pid]; ok {
			delete(w.Procs, pid)
		}
	}
}

// watcherFor maps an event's watcher (name as configured or topic form) to
// the model's name.
func (h *hub) watcherFor(name string) string {
	if _, ok := h.byName[name]; ok {
		return name
	}
	if n, ok := h.byTopic[events.TopicName(name)]; ok {
		return n
	}
	return name
}

// wire turns an event into what the page receives.
func (h *hub) wire(ev events.Event) wireEvent {
	we := wireEvent{Seq: ev.Seq, Time: unixSeconds(ev.Time), Topic: ev.Topic, Kind: ev.Kind}
	if we.Fields, _ = plain(ev.Fields); we.Fields == nil && len(ev.Fields) > 0 {
		we.Fields = map[string]any{"error": "payload is not JSON"}
	}
	name := ev.Watcher
	if name == "" && strings.HasPrefix(ev.Topic, "watcher.") {
		if parts := strings.SplitN(ev.Topic, ".", 3); len(parts) == 3 {
			name = parts[1]
		}
	}
	if name != "" {
		name = h.watcherFor(name)
	}
	we.Watcher = name
	return we
}

func (h *hub) applyEvent(ev events.Event) {
	we := h.wire(ev)
	name := we.Watcher
	if h.lastSeq != 0 && ev.Seq > h.lastSeq+1 {
		// The bus dropped events for us: the model may be stale.
		h.dirtyAll = true
	}
	h.lastSeq = ev.Seq
	h.pending = append(h.pending, we)
	h.recent = append(h.recent, we)
	if n := len(h.recent) - h.t.recentEvents; n > 0 {
		h.recent = append(h.recent[:0:0], h.recent[n:]...)
	}

	w := h.byName[name]
	switch {
	case name == "" || ev.Kind == events.KindAdd || ev.Kind == events.KindRemove:
		h.dirtyAll = true
		return
	case w == nil:
		h.dirty[name] = true
		return
	}
	h.dirty[name] = true
	pid := pidKey(we.Fields["process_pid"])
	switch ev.Kind {
	case events.KindSpawn:
		if pid != "" {
			if w.Procs == nil {
				w.Procs = map[string]map[string]any{}
			}
			if _, ok := w.Procs[pid]; !ok {
				w.Procs[pid] = map[string]any{"pid": toFloat(we.Fields["process_pid"]), "wid": we.Fields["process_id"], "state": "spawned", "started": we.Time, "age": 0.0}
			}
		}
	case events.KindExit: // every exit; reap only where circusd has one
		if pid != "" {
			delete(w.Procs, pid)
			h.reaped[pid] = ev.Time
		}
	}
}

// flushStats applies one batch of samples to the model, appends a history
// point per watcher and broadcasts the batch.
func (h *hub) flushStats() {
	batch := h.statBuf
	h.statBuf = nil
	if len(batch) == 0 {
		return
	}
	var last time.Time
	procs := map[string]map[string]map[string]any{}
	var poold map[string]any
	var sockets []map[string]any
	for _, ev := range batch {
		if ev.Time.After(last) {
			last = ev.Time
		}
		rest, ok := strings.CutPrefix(ev.Topic, "stat.")
		if !ok {
			continue
		}
		first, pid, hasPid := strings.Cut(rest, ".")
		name := ev.Watcher
		if name == "" {
			name = first
		}
		name = h.watcherFor(name)
		w := h.byName[name]
		switch {
		case w == nil && first == "poold" && hasPid:
			poold, _ = plain(ev.Fields)
			continue
		case w == nil && first == "sockets" && hasPid:
			if m, _ := plain(ev.Fields); m != nil {
				sockets = append(sockets, m)
			}
			continue
		case w == nil || !hasPid:
			continue // unknown watcher (a refresh will bring it) or aggregate
		}
		if _, gone := h.reaped[pid]; gone {
			continue // sampled before its reap reached us
		}
		info, _ := plain(ev.Fields)
		if info == nil {
			continue
		}
		if w.Procs == nil {
			w.Procs = map[string]map[string]any{}
		}
		w.Procs[pid] = info
		if procs[name] == nil {
			procs[name] = map[string]map[string]any{}
		}
		procs[name][pid] = info
	}
	if poold != nil {
		h.state.Poold = poold
	}
	t := unixSeconds(last)
	points := map[string]point{}
	for name := range procs {
		w := h.byName[name]
		var p point
		p[0] = t
		for _, info := range w.Procs {
			p[1] += toFloat(info["cpu"])
			p[2] += rssBytes(info)
		}
		hist := append(h.history[name], p)
		if n := len(hist) - h.t.historyLen; n > 0 {
			hist = append(hist[:0:0], hist[n:]...)
		}
		h.history[name] = hist
		points[name] = p
	}
	for pid, at := range h.reaped {
		if last.Sub(at) > time.Minute {
			delete(h.reaped, pid)
		}
	}
	msg := map[string]any{"type": "stats", "time": t, "procs": procs, "points": points}
	if poold != nil {
		msg["poold"] = poold
	}
	if sockets != nil {
		msg["sockets"] = sockets
	}
	h.broadcast(msg)
}

// helloMessage is what a console starts from. resumed says its events
// continue, without a gap, from the since it asked for.
func (h *hub) helloMessage(since uint64) map[string]any {
	evs, resumed := h.helloEvents(since)
	return map[string]any{
		"type":      "hello",
		"read_only": h.s.access.Load().readOnly,
		"state":     h.state,
		"history":   h.history,
		"events":    evs,
		"resumed":   resumed,
		"fleet":     h.s.fleet.snapshot()["hosts"],
	}
}

// encode prepares a message once for every client.
func (h *hub) encode(msg any) *websocket.PreparedMessage {
	b, err := json.Marshal(msg)
	if err != nil {
		// The model holds JSON-native values only.
		h.log.Error("console message does not encode", "error", err)
		return nil
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		h.log.Error("console message does not frame", "error", err)
		return nil
	}
	return pm
}

func (h *hub) broadcast(msg any) {
	if len(h.clients) == 0 {
		return
	}
	pm := h.encode(msg)
	if pm == nil {
		return
	}
	for c := range h.clients {
		h.sendTo(c, pm)
	}
}

// sendTo queues pm (or a map to encode) for c, dropping c if it cannot keep up.
func (h *hub) sendTo(c *client, m any) {
	pm, ok := m.(*websocket.PreparedMessage)
	if !ok {
		if pm = h.encode(m); pm == nil {
			return
		}
	}
	if !c.offer(pm) {
		h.log.Warn("console too slow, disconnecting it", "remote", c.remote, "queue", cap(c.send))
		c.kill()
		c.drop()
		delete(h.clients, c)
		h.s.nconsoles.Store(int64(len(h.clients)))
	}
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
