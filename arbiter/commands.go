package arbiter

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/watcher"
)

// cmdMsg is a command on its way to the loop.
type cmdMsg struct {
	req Request
	// withhold is set by Do for a read-only caller (WithRole).
	withhold bool
	// who sent it (WithCaller), nil for poold's own commands.
	who func() string
	// bySignal: poold's own upgrade for a SIGUSR2 (Arbiter.Upgrade).
	bySignal bool
	reply    chan answer // capacity 1
	answered bool
	// parked is the set m is in while it waits for its outcome (a waited
	// command), until answered: an upgrade waits for it (settle.go).
	parked map[*cmdMsg]bool
	// state says who got m first: the loop, to run it (taken), or Do,
	// which gave up waiting before the loop took it (dropped). Either
	// wins, never both, so that Do's "not run" is true.
	state atomic.Int32
}

const (
	cmdPending int32 = iota
	cmdTaken
	cmdDropped
)

// take reports whether the loop may run m: Do has not given up on it.
func (m *cmdMsg) take() bool {
	return m.state.CompareAndSwap(cmdPending, cmdTaken) || m.state.Load() == cmdTaken
}

// drop reports whether m will never run: the loop had not taken it.
func (m *cmdMsg) drop() bool { return m.state.CompareAndSwap(cmdPending, cmdDropped) }

// send answers m, once, on the loop (stats completes its answer off it).
func (m *cmdMsg) send(ans answer) {
	m.answered = true
	delete(m.parked, m)
	m.reply <- ans
}

// answer is what the loop sends back for a command: a reply, or a way to
// complete it outside the loop (reading /proc for stats), never both.
type answer struct {
	reply  Reply
	finish func() Reply
}

func (m *cmdMsg) ok(fields map[string]any) { m.send(answer{reply: OK(m.req.ID, fields)}) }
func (m *cmdMsg) fail(err error)           { m.send(answer{reply: Fail(m.req.ID, err)}) }

// failWith answers with an error reply that also carries fields (poold's
// additions, such as what a reload applied and what it rolled back).
func (m *cmdMsg) failWith(err error, fields map[string]any) {
	r := Fail(m.req.ID, err)
	for k, v := range fields {
		if _, taken := r[k]; !taken {
			r[k] = v
		}
	}
	m.send(answer{reply: r})
}

// handler runs a command on the loop. It either answers through m at once,
// or parks m and answers later (waiting); it returns an error to answer
// with that error.
type handler func(a *Arbiter, m *cmdMsg) error

var commands map[string]handler

func init() {
	commands = map[string]handler{
		"list": cmdList, "status": cmdStatus, "numwatchers": cmdNumWatchers,
		"numprocesses": cmdNumProcesses, "start": cmdStart, "stop": cmdStop,
		"restart": cmdRestart, "reload": cmdReload, "incr": cmdIncr, "decr": cmdDecr,
		"add": cmdAdd, "rm": cmdRm, "get": cmdGet, "set": cmdSet, "options": cmdOptions,
		"globaloptions": cmdGlobalOptions, "signal": cmdSignal, "kill": cmdKill,
		"stats": cmdStats, "dstats": cmdDstats, "listsockets": cmdListSockets,
		"reloadconfig": cmdReloadConfig, "quit": cmdQuit,
		"events_since": cmdEventsSince,
	}
}

// Commands lists the command names, sorted.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Do runs one command and returns its reply. It is safe from any goroutine;
// it gives up when ctx is done (the command may still complete on poold).
func (a *Arbiter) Do(ctx context.Context, req Request) Reply {
	if _, ok := commands[req.Command]; !ok {
		return Fail(req.ID, errorf(ErrnoUnknownCmd, "unknown command %q; known commands: %s", req.Command, strings.Join(Commands(), ", ")))
	}
	who := callerOf(ctx)
	r := a.do(ctx, req, who)
	if gone, _ := r[goesOn].(bool); gone {
		delete(r, goesOn)
		a.logGoesOn(who, req, ctx.Err())
		return r
	}
	a.logOutcome(who, req, r)
	return r
}

// goesOn marks, in do's reply and only there, a command whose caller
// stopped waiting while poold runs it: it has not failed.
const goesOn = "\x00goes_on"

func (a *Arbiter) do(ctx context.Context, req Request, who func() string) Reply {
	m := &cmdMsg{req: req, withhold: RoleFrom(ctx) == RoleReadOnly, reply: make(chan answer, 1), who: who}
	select {
	case a.inbox <- m:
	case <-a.stopped:
		return Fail(req.ID, errorf(ErrnoFailed, "poold is shutting down"))
	case <-ctx.Done():
		return notRun(req, ctx.Err())
	}
	var ans answer
	select {
	case ans = <-m.reply:
	case <-a.stopped:
		// A reply given just before the loop ended (quit with waiting)
		// still counts.
		select {
		case ans = <-m.reply:
		default:
			return Fail(req.ID, errorf(ErrnoFailed, "poold shut down before %s completed", req.Command))
		}
	case <-ctx.Done():
		// A reply given as ctx ended counts: the command was run.
		select {
		case ans = <-m.reply:
		default:
			if m.drop() {
				return notRun(req, ctx.Err())
			}
			a.post(funcMsg{func() { a.unpark(m) }})
			r := Fail(req.ID, errorf(ErrnoFailed, "%s: %v (it goes on in poold)", req.Command, ctx.Err()))
			r[goesOn] = true
			return r
		}
	}
	if ans.finish != nil {
		return ans.finish()
	}
	return ans.reply
}

// unpark forgets m, a command whose caller gave up waiting for its
// answer (its connection closed, its ctx ended): nobody will read the
// answer, so an upgrade must not wait for it (settle.go); its work goes
// on, and what of it an upgrade cannot carry holds the upgrade as ever.
// On the loop.
func (a *Arbiter) unpark(m *cmdMsg) {
	if m.answered || !a.parked[m] {
		return
	}
	delete(a.parked, m)
	m.parked = nil
	a.log.Debug("a waited command's caller is gone: its work goes on, an upgrade no longer waits for its answer", "command", m.req.Command)
}

// notRun is Do's reply to a command its caller gave up on before the
// loop took it: it will not run.
func notRun(req Request, err error) Reply {
	r := Fail(req.ID, errorf(ErrnoFailed, "%s: %v before poold took the command: not run", req.Command, err))
	r[wire.NotRun] = true
	return r
}

// Handle decodes one raw request frame, runs it and encodes the reply.
// send is false for a cast (msg_type "cast"), which gets no reply.
func (a *Arbiter) Handle(ctx context.Context, raw []byte) (reply []byte, send bool) {
	req, id, err := decodeFields(raw) // id as sent: nil when absent, null or unreadable
	if err == nil {
		err = CheckDuplicates(raw)
	}
	var r Reply
	switch {
	case err != nil:
		r = Fail(req.ID, err)
	case req.MsgType == "cast":
		m := &cmdMsg{req: req, reply: make(chan answer, 1), who: callerOf(ctx)}
		if _, ok := commands[req.Command]; ok {
			a.post(m)
		}
		return nil, false
	default:
		r = a.Do(ctx, req)
	}
	return encodeReply(r, id), true
}

// servedWhileStopping says whether cmd is served while poold stops: the
// read-only ones, quit, and signal, by which an operator gives a worker
// still stopping the signal its own cold shutdown reads (Celery's QUIT)
// rather than wait for the third SIGTERM's SIGKILL.
func servedWhileStopping(cmd string) bool {
	return cmd == "quit" || cmd == "signal" || ReadOnly(cmd)
}

func (a *Arbiter) dispatch(m *cmdMsg) {
	if !m.take() {
		return // its caller gave up before, and was told it was not run
	}
	a.logTaken(m)
	if a.stopping && !servedWhileStopping(m.req.Command) {
		m.fail(errorf(ErrnoFailed, "poold is shutting down; %s refused (only read-only commands, quit and signal are served while it stops)", m.req.Command))
		return
	}
	if err := commands[m.req.Command](a, m); err != nil {
		m.fail(err)
	}
	if !m.answered && m.req.Command != "upgrade" {
		m.parked = a.parked
		a.parked[m] = true
	}
	if m.req.MsgType == "cast" {
		a.logCastOutcome(m)
	}
}

// finish answers m now, or once ws have settled when it asked for waiting.
func (a *Arbiter) finish(m *cmdMsg, ws []*watcher.Watcher, fields func() map[string]any) error {
	return a.finishChecked(m, ws, fields, nil)
}

// finishChecked is finish with one more check of the settled state:
// undone words what another command undid of m's ("" for nothing), for
// a waited m's answer. It may be nil.
func (a *Arbiter) finishChecked(m *cmdMsg, ws []*watcher.Watcher, fields func() map[string]any, undone func() string) error {
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	if fields == nil {
		fields = func() map[string]any { return nil }
	}
	if !wait {
		m.ok(fields())
		return nil
	}
	var running []*watcher.Watcher
	if keepsRunning[m.req.Command] {
		running = runningOf(ws)
	}
	startsAdded := addsStarted(m)
	sizes := sizesAsked(m, ws)
	var started []*watcher.Watcher // an add with start answers at a one-shot's end, as start
	if startsAdded {
		started = ws
	}
	whenAllSettled(ws, func() {
		a.whenOneShotsEnd(started, func() {
			why := joinWhy(letGoOf(m.req.Command, ws), changeFailures(m.req.Command, managed(ws)))
			if startsAdded {
				// An add with start means it to run, as a start does: one
				// stopped since (not for a reason its start gave) was cut short.
				running = notRefused(ws)
			}
			why = joinWhy(why, a.stoppedSince(m.req.Command, managed(running)))
			why = joinWhy(why, resizedSince(m.req.Command, ws, sizes))
			if undone != nil {
				why = joinWhy(why, undone())
			}
			if why != "" {
				m.failWith(errorf(ErrnoAsync, "%s: %s", m.req.Command, why), fields())
				return
			}
			m.ok(withEnded(fields(), managed(ws)))
		})
	})
	return nil
}

// keepsRunning are the waited commands that leave a running watcher
// running, so that finding it stopped when it settles means a stop, rm or
// quit cut them short (kill, also answered by finish, stops it).
var keepsRunning = map[string]bool{"set": true, "reset": true, "incr": true, "decr": true}

// addsStarted reports whether m is an add with start: like the commands
// of keepsRunning, it means its watcher to run when it settles.
func addsStarted(m *cmdMsg) bool {
	start, _ := m.props().boolean("start", false) // cmdAdd refused a bad one
	return m.req.Command == "add" && start
}

// addedStarted is the reply of a waited add with start, as circusd's (its
// watcher's start()): the pids started and kept, sorted; a new watcher
// keeps none. nil for any other add.
func addedStarted(m *cmdMsg, w *watcher.Watcher) func() map[string]any {
	if wait, _ := m.props().boolean("waiting", false); !wait || !addsStarted(m) {
		return nil
	}
	return func() map[string]any {
		started := append(append([]int{}, w.Pids()...), w.EndedPids()...) // a one-shot's ended worker too, as circusd's
		slices.Sort(started)
		return map[string]any{"started": started, "kept": []int{}}
	}
}

// notRefused is ws without the watchers whose start did not happen (a
// hook, a dependency down) and the one-shots that ran out: startFailures
// says why of those.
func notRefused(ws []*watcher.Watcher) []*watcher.Watcher {
	return slices.DeleteFunc(slices.Clone(ws), func(w *watcher.Watcher) bool { return w.StartError() != nil || w.RanOut() })
}

// changeFailures words what a waited set or add did not do: a rolling
// reload abandoned (the old workers serve on), an added watcher that did
// not start; "" when all went through.
func changeFailures(cmd string, ws []*watcher.Watcher) string {
	var parts []string
	for _, w := range ws {
		if err := w.ReloadError(); err != nil {
			parts = append(parts, err.Error())
		}
	}
	if why := startFailures(cmd, ws); why != "" {
		parts = append(parts, why)
	}
	return strings.Join(parts, "; ")
}

// joinWhy joins two reasons a waited command failed, either may be "".
func joinWhy(a, b string) string {
	return strings.Trim(a+"; "+b, "; ")
}

// sizesAsked is, for a waited incr, decr or set of numprocesses, the
// target each of ws had once the command applied it (nil for any other
// command), for resizedSince.
func sizesAsked(m *cmdMsg, ws []*watcher.Watcher) []int {
	switch m.req.Command {
	case "incr", "decr":
	case "set":
		if opts, _ := m.props().obj("options"); opts == nil || opts["numprocesses"] == nil {
			return nil
		}
	default:
		return nil
	}
	sizes := make([]int, len(ws))
	for i, w := range ws {
		sizes[i] = w.Target()
	}
	return sizes
}

// resizedSince words the running watchers of ws whose target is no
// longer the one in sizes (see sizesAsked): a later incr, decr, set,
// reload or the autoscaler moved it before cmd was done, so an ok would
// name a size the watcher does not run. "" when none moved.
func resizedSince(cmd string, ws []*watcher.Watcher, sizes []int) string {
	var parts []string
	for i, w := range ws {
		if i >= len(sizes) || w.Abandoned() || w.Status() == watcher.Stopped || w.Target() == sizes[i] {
			continue
		}
		// A later incr adds to an incr's workers, a later decr takes more
		// from a decr's: neither undoes it.
		if cmd == "incr" && w.Target() > sizes[i] || cmd == "decr" && w.Target() < sizes[i] {
			continue
		}
		parts = append(parts, fmt.Sprintf("watcher %q runs %d workers, not the %d this %s asked for: a later incr, decr, set numprocesses, reload or the autoscaler changed its size before it was done (poolctl status %s shows the size now)",
			w.Name(), w.Target(), sizes[i], cmd, w.Name()))
	}
	return strings.Join(parts, "; ")
}
