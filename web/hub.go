package web

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
)

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
	asks    chan ask    // consoles' requests for watchers and history (hubsync.go)
	jobs    chan refreshJob
	results chan refreshResult
	done    chan struct{} // closed when run returns

	// Everything below belongs to the run goroutine.
	clients map[*client]struct{}
	state   *stateView
	byName  map[string]*watcherView
	byTopic map[string]string // topic form of a name -> name
	history map[string][]point
	recent  []wireEvent // newest last, at most t.recentEvents
	reaped  map[string]time.Time
	// pruneReapedAt: an exit prunes reaped once it holds this many.
	pruneReapedAt int
	// removing: watchers poold announced removed (circusd's order: remove,
	// then the stop), hidden from the consoles while they stop, until a
	// refresh no longer finds them.
	removing map[string]bool
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
		reg:      make(chan *client),
		unreg:    make(chan *client),
		touch:    make(chan string, 64),
		asks:     make(chan ask),
		jobs:     make(chan refreshJob, 1),
		results:  make(chan refreshResult),
		done:     make(chan struct{}),
		clients:  map[*client]struct{}{},
		state:    &stateView{},
		byName:   map[string]*watcherView{},
		byTopic:  map[string]string{},
		history:  map[string][]point{},
		reaped:   map[string]time.Time{},
		removing: map[string]bool{},
		dirty:    map[string]bool{},
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
	h.counted()
	h.sendTo(c, h.helloMessage(c.since))
	h.log.Debug("console connected", "remote", c.remote, "consoles", len(h.clients))
}

// leave drops a console, on the hub's goroutine.
func (h *hub) leave(c *client) {
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.counted()
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

// hubTimers are the hub's coalescing timers: events to flush, stats to
// flush, a refresh to dispatch. Each is armed at most once until it fires,
// so a burst costs one flush.
type hubTimers struct {
	ev, st, rf                *time.Timer
	evArmed, stArmed, rfArmed bool
}

func newHubTimers() *hubTimers {
	return &hubTimers{ev: stoppedTimer(), st: stoppedTimer(), rf: stoppedTimer()}
}

func (t *hubTimers) stop() {
	t.ev.Stop()
	t.st.Stop()
	t.rf.Stop()
}

// arm starts tm in d unless it is already running.
func arm(tm *time.Timer, armed *bool, d time.Duration) {
	if !*armed {
		tm.Reset(d)
		*armed = true
	}
}

// armRefresh schedules a refresh in d, unless one is scheduled, the
// refresher is busy (its result re-arms it), or no console is open. With
// nobody watching, events only mark watchers dirty: each refresh is calls
// into poold's loop, which at a reload of 500 workers is busy with the
// reload itself (r56b-bigops: 30 % more of poold's CPU for nobody). The
// next console's join refreshes everything.
func (h *hub) armRefresh(tm *hubTimers, d time.Duration) {
	if !h.busy && len(h.clients) > 0 {
		arm(tm.rf, &tm.rfArmed, d)
	}
}

func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	evC, stC, unsubscribe := h.subscribe()
	defer unsubscribe()
	tm := newHubTimers()
	defer tm.stop()
	resync := time.NewTicker(h.t.resync)
	defer resync.Stop()
	defer func() {
		for c := range h.clients {
			c.kill()
		}
		clear(h.clients)
		h.counted()
	}()

	h.dirtyAll = true // read by the first console's join (armRefresh)
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-h.reg:
			h.join(c)
			// The hello is the model as of the last event or
			// resync; what it missed follows at once.
			h.dirtyAll = true
			h.armRefresh(tm, 0)
		case c := <-h.unreg:
			h.leave(c)
		case ev := <-evC:
			h.onEvent(tm, ev)
		case <-tm.ev.C:
			tm.evArmed = false
			h.flushEvents()
		case ev := <-stC:
			h.statBuf = append(h.statBuf, ev)
			arm(tm.st, &tm.stArmed, h.t.statsFlush)
		case <-tm.st.C:
			tm.stArmed = false
			h.flushStats()
		case name := <-h.touch:
			h.onTouch(tm, name)
		case a := <-h.asks:
			h.answer(a)
		case <-h.s.fleet.kick:
			h.broadcast(h.s.fleet.snapshot())
		case <-resync.C:
			if len(h.clients) > 0 {
				h.dirtyAll = true
				h.armRefresh(tm, 0)
			}
		case <-tm.rf.C:
			tm.rfArmed = false
			h.dispatchRefresh()
		case r := <-h.results:
			h.onResult(tm, r)
		}
	}
}

// onEvent applies a lifecycle event (and any the bus made it miss) to the
// model, and schedules the flush to consoles and a refresh.
func (h *hub) onEvent(tm *hubTimers, ev events.Event) {
	if ev.Seq <= h.sent {
		return // published before the hub began: in every hello
	}
	for _, missed := range h.refill(ev) {
		h.applyEvent(missed)
	}
	h.applyEvent(ev)
	arm(tm.ev, &tm.evArmed, h.t.eventFlush)
	h.armRefresh(tm, h.t.refreshDelay)
}

// onTouch marks a watcher ("" = everything) to refresh soon.
func (h *hub) onTouch(tm *hubTimers, name string) {
	if name == "" {
		h.dirtyAll = true
	} else {
		h.dirty[h.watcherFor(name)] = true
	}
	h.armRefresh(tm, h.t.refreshDelay)
}

// onResult applies a refresh and schedules the next one: a retry for what
// failed, or what became dirty meanwhile.
func (h *hub) onResult(tm *hubTimers, r refreshResult) {
	h.busy = false
	h.applyRefresh(r)
	if r.err != nil {
		h.markFailed(r.job)
		h.armRefresh(tm, h.t.retry)
	} else if h.dirtyAll || len(h.dirty) > 0 {
		h.armRefresh(tm, h.t.refreshDelay)
	}
}

// dispatchRefresh hands the dirty set to the refresher.
func (h *hub) dispatchRefresh() {
	// No console: the last one left since the refresh was armed; what
	// is dirty stays so, for the next one's join.
	if h.busy || len(h.clients) == 0 || (!h.dirtyAll && len(h.dirty) == 0) {
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

// refresher runs refresh jobs, one at a time (each job's calls: load.go).
func (h *hub) refresher(ctx context.Context) {
	for {
		var job refreshJob
		select {
		case <-ctx.Done():
			return
		case job = <-h.jobs:
		}
		l := loader{b: h.s.opts.Backend, to: h.t.backendTO}
		r := refreshResult{job: job}
		if job.all {
			r.state, r.err = l.loadAll(ctx)
		} else {
			r.watchers, r.err = l.loadWatchers(ctx, job.names)
		}
		select {
		case h.results <- r:
		case <-ctx.Done():
			return
		}
	}
}

// helloMessage is what a console starts from. resumed says its events
// continue, without a gap, from the since it asked for. The CPU/RSS
// history comes as the page asks for it, for the cards it shows.
func (h *hub) helloMessage(since uint64) map[string]any {
	evs, resumed := h.helloEvents(since)
	return map[string]any{
		"type":      "hello",
		"read_only": h.s.access.Load().readOnly,
		"heartbeat": h.t.heartbeat.Seconds(),
		"state":     h.state,
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
		h.counted()
	}
}

// counted publishes the number of consoles after a change: for metrics
// and the stats sampler, and to the fleet, which follows other hosts only
// while a console is open.
func (h *hub) counted() {
	h.s.nconsoles.Store(int64(len(h.clients)))
	h.s.fleet.watched(len(h.clients) > 0)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
