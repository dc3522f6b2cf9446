package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/web/remote"
)

// The fleet view: an operator's console can add other poold hosts' API
// endpoints (URL, token, and a CA for a self-signed certificate); this
// poold then watches each of them (their event stream, and status and
// stats after every burst of events and every few seconds) and the
// console shows them side by side. Tokens stay in this poold's memory:
// they are never sent back to a browser, and they are forgotten on
// restart.
//
// Concurrency: the fleet owns one goroutine per host; begin opens it to
// members, and run waits for them all when its context ends. The members and their latest views are a
// small shared leaf under fleet.mu; a change kicks the hub (kick, cap 1),
// which takes a snapshot and broadcasts it.

const maxFleetHosts = 32

// fleet is the set of watched hosts.
type fleet struct {
	t    tunings
	kick chan struct{} // to the hub: the snapshot changed

	mu      sync.Mutex
	ctx     context.Context // set by run; nil before
	wg      *sync.WaitGroup
	members map[string]*member
	order   []string
	// open is closed while a console is open, idle while none is; the
	// other one is replaced at each change.
	looking    bool
	open, idle chan struct{}
}

type member struct {
	url    string
	client *remote.Client
	cancel context.CancelFunc
	view   hostView
}

// hostView is what the console shows of one host.
type hostView struct {
	URL      string         `json:"url"`
	Host     string         `json:"host"`
	State    string         `json:"state"` // connecting, live, unreachable, refused
	Error    string         `json:"error,omitempty"`
	Watchers []fleetWatcher `json:"watchers"`
	Updated  float64        `json:"updated,omitempty"`
}

type fleetWatcher struct {
	Name   string  `json:"name"`
	Status string  `json:"status"`
	Procs  int     `json:"procs"`
	CPU    float64 `json:"cpu"`
}

func newFleet(t tunings) *fleet {
	idle := make(chan struct{})
	close(idle)
	return &fleet{t: t, kick: make(chan struct{}, 1), members: map[string]*member{},
		open: make(chan struct{}), idle: idle}
}

// watched says whether any console is open; members follow their hosts
// only while one is.
func (f *fleet) watched(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on == f.looking {
		return
	}
	f.looking = on
	if on {
		close(f.open)
		f.idle = make(chan struct{})
	} else {
		close(f.idle)
		f.open = make(chan struct{})
	}
}

// gate returns the channels of the current console state: open is closed
// once a console is open, idle once none is.
func (f *fleet) gate() (open, idle <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open, f.idle
}

func (f *fleet) changed() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// snapshot is the console message for the current views.
func (f *fleet) snapshot() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	hosts := make([]hostView, 0, len(f.order))
	for _, u := range f.order {
		hosts = append(hosts, f.members[u].view)
	}
	return map[string]any{"type": "fleet", "hosts": hosts}
}

// begin lets members start; call it before anything can add one.
func (f *fleet) begin(ctx context.Context) {
	f.mu.Lock()
	f.ctx, f.wg = ctx, &sync.WaitGroup{}
	f.mu.Unlock()
}

// run waits for ctx to end, then for every member's goroutine.
func (f *fleet) run(ctx context.Context) {
	<-ctx.Done()
	f.mu.Lock()
	f.ctx = nil // no new members
	wg := f.wg
	f.mu.Unlock()
	wg.Wait()
}

// add starts watching a host.
func (f *fleet) add(o remote.Options) error {
	c, err := remote.New(o)
	if err != nil {
		return err
	}
	u := c.URL()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.ctx == nil:
		return fmt.Errorf("the console is shutting down")
	case f.members[u] != nil:
		return fmt.Errorf("%s is already in the fleet view", u)
	case len(f.members) >= maxFleetHosts:
		return fmt.Errorf("the fleet view holds at most %d hosts", maxFleetHosts)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	m := &member{url: u, client: c, cancel: cancel, view: hostView{URL: u, Host: c.Host(), State: "connecting", Watchers: []fleetWatcher{}}}
	f.members[u] = m
	f.order = append(f.order, u)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer c.Close()
		f.watch(ctx, m)
	}()
	f.changed()
	return nil
}

// remove stops watching a host.
func (f *fleet) remove(u string) error {
	u = strings.TrimRight(u, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.members[u]
	if m == nil {
		return fmt.Errorf("%s is not in the fleet view", u)
	}
	m.cancel()
	delete(f.members, u)
	for i, o := range f.order {
		if o == u {
			f.order = append(f.order[:i], f.order[i+1:]...)
			break
		}
	}
	f.changed()
	return nil
}

func (f *fleet) set(m *member, fn func(v *hostView)) {
	f.mu.Lock()
	if f.members[m.url] == m {
		fn(&m.view)
	}
	f.mu.Unlock()
	f.changed()
}

// watch follows one host until ctx ends, but only while a console is
// open: it waits for one, follows the host until the last one leaves,
// and waits again.
func (f *fleet) watch(ctx context.Context, m *member) {
	for {
		open, idle := f.gate()
		select {
		case <-ctx.Done():
			return
		case <-open:
		}
		f.session(ctx, m, idle)
	}
}

// session follows the host until ctx ends or idle closes: open its event
// stream, refresh at once, then on events (debounced) and every resync;
// on any failure show it unreachable and retry with backoff. Leaving
// cancels whatever call is in flight and drops the idle connections.
func (f *fleet) session(ctx context.Context, m *member, idle <-chan struct{}) {
	sctx, cancel := context.WithCancel(ctx)
	left := make(chan struct{})
	go func() {
		defer close(left)
		select {
		case <-idle:
			cancel()
		case <-sctx.Done():
		}
	}()
	defer m.client.Close()
	defer func() { cancel(); <-left }()
	backoff := f.t.retry
	for sctx.Err() == nil {
		err := f.follow(sctx, m)
		if sctx.Err() != nil {
			return
		}
		if f.wasLive(m) {
			// A host that had been reached is a new outage: try again
			// soon, not after the backoff of an earlier one.
			backoff = f.t.retry
		}
		state, why := "unreachable", err.Error()
		if refusedToken(err) {
			// The host answers but not to this token: no use asking it
			// often (each try is a failed token in its log).
			state, why = "refused", why+"; remove the host and add it again with its current token"
			backoff = maxFleetRetry
		}
		f.set(m, func(v *hostView) { v.State, v.Error = state, why })
		t := time.NewTimer(backoff)
		select {
		case <-sctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxFleetRetry)
	}
}

// wasLive says whether m's host was last seen live.
func (f *fleet) wasLive(m *member) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m.view.State == "live"
}

// maxFleetRetry is the longest wait before a host is tried again.
const maxFleetRetry = 10 * time.Second

// refusedToken says whether err is the host refusing the token (revoked,
// or mistyped when added) rather than the host being out of reach: a
// 401 or 403, or a 429 that says the token is invalid (held back: it
// failed again and again from this address, here or from other clients
// holding it). A 429 without that is not: the host locked out this
// address after different failed tokens, which other clients on it may
// have sent; it lets the token in again later.
func refusedToken(err error) bool {
	var se *remote.StatusError
	var re *remote.ReplyError
	var ce *arbiter.CommandError
	switch {
	case errors.As(err, &se):
		return se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden ||
			(se.Code == http.StatusTooManyRequests && se.InvalidToken)
	case errors.As(err, &re):
		return re.Errno == arbiter.ErrnoForbidden && (re.Code != http.StatusTooManyRequests || re.InvalidToken)
	default:
		return errors.As(err, &ce) && ce.Errno == arbiter.ErrnoForbidden
	}
}

// follow runs one connection to the host; it returns why it ended.
func (f *fleet) follow(ctx context.Context, m *member) error {
	octx, cancel := context.WithTimeout(ctx, f.t.backendTO)
	st, err := m.client.Events(octx, []string{"watcher.", "arbiter."}, -1)
	cancel()
	if err != nil {
		return err
	}
	defer st.Close()
	if err := f.refresh(ctx, m); err != nil {
		return err
	}
	evs := make(chan struct{}, 1)
	ended := make(chan error, 1)
	rctx, rcancel := context.WithCancel(ctx)
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			if _, _, err := st.RecvRaw(rctx); err != nil {
				ended <- err
				return
			}
			select {
			case evs <- struct{}{}:
			default:
			}
		}
	}()
	defer rwg.Wait()
	defer rcancel()
	resync := time.NewTicker(f.t.fleetResync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ended:
			return err
		case <-evs:
			t := time.NewTimer(f.t.refreshDelay) // let a burst settle
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		case <-resync.C:
		}
		if err := f.refresh(ctx, m); err != nil {
			return err
		}
	}
}

// refresh asks the host for status and stats.
func (f *fleet) refresh(ctx context.Context, m *member) error {
	ctx, cancel := context.WithTimeout(ctx, f.t.backendTO)
	defer cancel()
	st, err := m.client.Do(ctx, arbiter.Request{Command: "status"})
	if err != nil {
		return err
	}
	stats, err := m.client.Do(ctx, arbiter.Request{Command: "stats"})
	if err != nil {
		return err
	}
	statuses := statesOf(st)
	infos, _ := stats["infos"].(map[string]any)
	ws := fleetWatchers(statuses, infos)
	f.set(m, func(v *hostView) {
		v.State, v.Error, v.Watchers = "live", "", ws
		v.Updated = unixSeconds(time.Now())
	})
	return nil
}

// fleetAction runs a console's fleet_add {url, token, ca} or fleet_rm
// {url}; ok is false for any other command. Both need an operator
// console: adding a host makes poold connect where the console says.
func (s *Server) fleetAction(req arbiter.Request, remoteAddr string) (rep arbiter.Reply, ok bool) {
	if req.Command != "fleet_add" && req.Command != "fleet_rm" {
		return nil, false
	}
	if s.access.Load().readOnly {
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoForbidden,
			Reason: req.Command + " refused: the web console is read-only ([web] read_only = true)"}), true
	}
	str := func(k string) string { v, _ := req.Properties[k].(string); return strings.TrimSpace(v) }
	var err error
	if req.Command == "fleet_add" {
		err = s.fleet.add(remote.Options{URL: str("url"), Token: str("token"), CAPEM: []byte(str("ca"))})
	} else {
		err = s.fleet.remove(str("url"))
	}
	s.log.Info("console fleet change", "command", req.Command, "url", str("url"), "remote", remoteAddr, "error", err)
	if err != nil {
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoBadProperty, Reason: err.Error()}), true
	}
	return arbiter.Reply{"status": "ok", "id": req.ID, "time": unixSeconds(time.Now())}, true
}

// fleetWatchers sums a host's status and stats replies per watcher, by
// name: its workers, and their CPU with their children's (a gunicorn
// master's workers, what an `sh -c` runs).
func fleetWatchers(statuses, infos map[string]any) []fleetWatcher {
	ws := make([]fleetWatcher, 0, len(statuses))
	for name, s := range statuses {
		w := fleetWatcher{Name: name, Status: fmt.Sprint(s)}
		procs, _ := infos[name].(map[string]any)
		for _, p := range procs {
			w.Procs++
			if pi, ok := p.(map[string]any); ok {
				cpu, _ := treeUsage(pi)
				w.CPU += cpu
			}
		}
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].Name < ws[j].Name })
	return ws
}
