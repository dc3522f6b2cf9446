package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/arbiter"
)

// Commands a console may send. Reads are always allowed; actions only when
// the console is not read-only. Commands that define or remove watchers or
// stop poold (add, rm, set, quit) stay with poolctl: a browser tab is the
// wrong place to run arbitrary commands from.
var (
	readCommands = map[string]bool{
		"status": true, "list": true, "numprocesses": true, "numwatchers": true,
		"options": true, "get": true, "stats": true, "dstats": true,
		"listsockets": true, "globaloptions": true, "logs": true,
	}
	actionCommands = map[string]bool{
		"incr": true, "decr": true, "start": true, "stop": true, "restart": true,
		"reload": true, "kill": true, "signal": true, "reloadconfig": true,
	}
)

// heartbeatMessage is what the writer sends every tunings.heartbeat.
var heartbeatMessage = []byte(`{"type":"heartbeat"}`)

// consoleCommands are the commands a console may send, sorted.
func consoleCommands() []string {
	names := []string{"fleet_add", "fleet_rm"}
	for _, m := range []map[string]bool{readCommands, actionCommands} {
		for n := range m {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// wsEnds are what ends a console's websocket from poold's side, besides
// its hub and an upgrade.
type wsEnds struct {
	revoked <-chan struct{} // the access it was admitted under was replaced
	evicted <-chan struct{} // it was closed to make room (streamcap.go)
}

// serveConn runs one websocket until either side ends it or one of ends
// is closed. It runs on the HTTP handler goroutine, which is the
// connection's reader; it starts the one writer and waits for it.
// closeSent hears when poold's close frame is written (see closeWith).
func (s *Server) serveConn(ctx context.Context, h *hub, conn *websocket.Conn, remote string, ends wsEnds, since uint64, closeSent func()) {
	c := newClient(s.tunings.clientQueue, remote, func() { conn.NetConn().Close() })
	c.since = since
	if !h.register(c) {
		conn.Close()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.writeLoop(conn, c, ends, closeSent)
	}()
	s.readLoop(ctx, h, conn, c)
	cancel()
	c.kill()
	wg.Wait()
	h.unregister(c)
}

// writeLoop is the connection's only writer: queued messages, pings, and
// the close frame. It closes the connection when it returns, which ends the
// reader too.
func (s *Server) writeLoop(conn *websocket.Conn, c *client, ends wsEnds, sent func()) {
	defer conn.Close()
	ping := time.NewTicker(s.tunings.pingEvery)
	defer ping.Stop()
	// A websocket ping is invisible to the page; this message is not, so a
	// page that hears nothing for a few heartbeats knows its connection
	// died silently (a laptop that slept, a NAT that forgot it, a stopped
	// poold) rather than showing stale data as live.
	beat := time.NewTicker(s.tunings.heartbeat)
	defer beat.Stop()
	handover := s.streams.done()
	for {
		select {
		case pm := <-c.send:
			conn.SetWriteDeadline(time.Now().Add(s.tunings.writeWait))
			if err := conn.WritePreparedMessage(pm); err != nil {
				return
			}
		case <-beat.C:
			conn.SetWriteDeadline(time.Now().Add(s.tunings.writeWait))
			if err := conn.WriteMessage(websocket.TextMessage, heartbeatMessage); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.tunings.writeWait)); err != nil {
				return
			}
		case <-c.quit:
			code, text := websocket.CloseGoingAway, "poold console closing"
			if why := c.silent.Load(); why != nil {
				code, text = websocket.ClosePolicyViolation, *why
			}
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
			return
		case <-handover:
			// The new image answers the reconnect (the page's, at once
			// for this code): the listener goes over to it.
			s.closeWith(conn, c, sent, websocket.CloseServiceRestart, "poold is upgrading in place; reconnect")
			return
		case <-ends.revoked:
			s.closeWith(conn, c, sent, websocket.ClosePolicyViolation, "poold console settings changed; reconnect")
			return
		case <-ends.evicted:
			s.closeWith(conn, c, sent, websocket.CloseTryAgainLater, "poold console closed to make room for another token's streams: the consoles hold the most")
			return
		}
	}
}

// closeWith ends the websocket from poold's side with a close frame
// (code, text) and its close handshake: sent hears that the frame is
// written, after which an upgrade's hand-over has no more to wait for
// (handover.go); then it waits, at most closeWait, for the reader to end,
// which it does on the page's close reply. Closing the connection at once
// instead made the kernel answer what the page sent meanwhile (a pong, a
// console_view) with a reset, and Chromium fails a websocket whose write
// meets a reset with 1006, without reading the close frame it had already
// received: the page showed "disconnected" for an upgrade. Messages read
// meanwhile are dropped (readLoop): nobody would hear their replies.
func (s *Server) closeWith(conn *websocket.Conn, c *client, sent func(), code int, text string) {
	c.closing.Store(true)
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	sent()
	wait := time.NewTimer(s.tunings.closeWait)
	defer wait.Stop()
	select {
	case <-c.quit: // serveConn's reader has ended (or the hub dropped c)
	case <-wait.C: // a peer that does not answer: closed anyway
	}
}

// readLoop reads action messages until the connection fails or closes.
// Each action runs on a goroutine of its own, so a long one (a waited
// reloadconfig) does not hold up a Stop or a status sent after it; at most
// actionsInFlight run at once, and one beyond that is refused at once.
// readLoop owns those goroutines: when it returns, it has cancelled the ones
// still running and waited for them to end.
func (s *Server) readLoop(ctx context.Context, h *hub, conn *websocket.Conn, c *client) {
	t := s.tunings
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	slots := make(chan struct{}, t.actionsInFlight)
	conn.SetReadLimit(t.readLimit)
	heard := time.Now()
	extend := func() { heard = time.Now(); conn.SetReadDeadline(heard.Add(t.pongWait)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			noteSilence(c, err, time.Since(heard), t.pongWait)
			return
		}
		extend()
		if typ != websocket.TextMessage || c.closing.Load() {
			continue
		}
		req, err := arbiter.DecodeRequest(data)
		if err == nil {
			err = arbiter.CheckDuplicates(data)
		}
		if err != nil {
			s.sendReply(c, arbiter.Fail(req.ID, err))
			continue
		}
		if a, ok := consoleAsk(req, c); ok {
			if !h.askFor(a) {
				return
			}
			s.sendReply(c, arbiter.OK(req.ID, nil))
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.sendReply(c, arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed,
				Reason: fmt.Sprintf("%s refused: this console already has %d actions running; wait for one to end, then try again", req.Command, cap(slots))}))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.sendReply(c, s.action(ctx, h, req, c.remote))
		}()
	}
}

// noteSilence gives c the close text for a reader that ended at its read
// deadline: nothing came from the console for longer than pongWait. That
// is a dead connection, or poold itself did not run that long (kill
// -STOP, a debugger, a frozen cgroup, a paused VM), whose pongs wait
// unread in the socket: it closed with "poold console closing", the
// text of poold's shutdown, though poold ran on. The text stays within
// a close frame's 123 bytes.
func noteSilence(c *client, err error, silent, pongWait time.Duration) {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return
	}
	why := fmt.Sprintf("nothing heard from this console for %v (pong wait %v): a dead link, or poold did not run; reconnect",
		silent.Round(100*time.Millisecond), pongWait)
	c.silent.Store(&why)
}

// sendReply queues reply for the connection's writer. A console whose
// queue is full cannot keep up: it is closed.
func (s *Server) sendReply(c *client, reply arbiter.Reply) {
	b, err := json.Marshal(map[string]any{"type": "reply", "id": reply["id"], "reply": reply})
	if err != nil {
		b, _ = json.Marshal(map[string]any{"type": "reply", "id": reply["id"],
			"reply": arbiter.Fail(fmt.Sprint(reply["id"]), fmt.Errorf("reply does not encode: %v", err))})
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil || !c.offer(pm) {
		c.kill()
	}
}

// action checks and runs one console request and returns the reply.
func (s *Server) action(ctx context.Context, h *hub, req arbiter.Request, remote string) arbiter.Reply {
	req.MsgType = "" // a console always wants its answer
	if rep, ok := s.fleetAction(req, remote); ok {
		return rep
	}
	mutating := actionCommands[req.Command]
	switch {
	case mutating && s.access.Load().readOnly:
		s.log.Warn("console action refused: read-only", "command", req.Command, "remote", remote)
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoForbidden,
			Reason: fmt.Sprintf("%s refused: the web console is read-only ([web] read_only = true); use poolctl", req.Command)})
	case !mutating && !readCommands[req.Command]:
		if !slices.Contains(arbiter.Commands(), req.Command) {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoUnknownCmd,
				Reason: fmt.Sprintf("unknown command %q; the web console accepts: %s", req.Command, strings.Join(consoleCommands(), ", "))})
		}
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoUnknownCmd,
			Reason: fmt.Sprintf("command %q is not available from the web console; use poolctl", req.Command)})
	}
	cctx, cancel := context.WithTimeout(ctx, s.tunings.actionTO)
	defer cancel()
	reply := s.opts.Backend.Do(arbiter.WithCaller(arbiter.WithRole(cctx, s.consoleRole()), "web console from "+remote), req)
	if reply == nil {
		reply = arbiter.Fail(req.ID, fmt.Errorf("%s: no reply from poold", req.Command))
	}
	if notRun, _ := reply[arbiter.NotRun].(bool); !notRun && reply["status"] == "error" && errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		reply = arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: stoppedWaiting(req.Command, s.tunings.actionTO)})
	}
	if mutating {
		name, _ := req.Properties["name"].(string)
		// poold's own log line of the command names the console as its
		// sender (arbiter.WithCaller).
		s.log.Debug("console action", "command", req.Command, "name", name, "remote", remote, "status", reply["status"], "reason", reply["reason"])
		if req.Command == "reloadconfig" {
			name = ""
		}
		h.poke(name)
	}
	return reply
}

// stoppedWaiting says that the console gave up waiting for command, which
// goes on in poold, and where its outcome will show.
func stoppedWaiting(command string, after time.Duration) string {
	follow := "its events show in the event log here, and poolctl status shows where it stands"
	if command == "reloadconfig" {
		follow = "the watchers' events show in the event log here, and poold's log says \"config reloaded\" (or why not) when it ends"
	}
	return fmt.Sprintf("%s is still running in poold: the console stopped waiting for its outcome after %g s, but did not cancel it; %s",
		command, after.Seconds(), follow)
}
