package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) eventsCommand() *cobra.Command {
	var since seqValue
	c := &cobra.Command{
		Use:     "events [TOPIC_PREFIX...]",
		Aliases: []string{"listen"},
		GroupID: "live",
		Short:   "Print poold's events as they arrive, one a line, until interrupted",
		Long: `Print poold's events as they arrive, one line each, until interrupted.

TOPIC_PREFIX filters by topic, e.g. watcher.web. or arbiter. (default: all).
The event endpoint is --pubsub-endpoint, else the pubsub_endpoint poold
reports in globaloptions. With --json each line is {"topic": ..., "event": ...}.

--since SEQ first prints the events after SEQ that poold still keeps
([arbiter] event_history), then goes on live, with no gap and no event
twice; --since 0 starts from the oldest one kept.`,
		Example: "  poolctl events watcher.web.\n  poolctl listen --json\n  poolctl events --since 1200",
		RunE: func(c *cobra.Command, args []string) error {
			if err := endpointAsTopic(c.CalledAs(), args); err != nil {
				return err
			}
			if len(a.urls) > 1 {
				from := int64(-1)
				if since.set {
					from = int64(since.n)
				}
				return a.fleetEvents(c.Context(), args, from)
			}
			if since.set {
				return a.eventsSince(c.Context(), since.n, args)
			}
			return a.events(c.Context(), args)
		},
	}
	c.Flags().Var(&since, "since", "replay the kept events after this seq, then go live")
	return c
}

// endpointAsTopic refuses a TOPIC_PREFIX that is an endpoint: Circus's
// docs show circusctl listen tcp://127.0.0.1:5556, which circusctl too
// takes as a topic, so it printed nothing, forever, without a word.
func endpointAsTopic(calledAs string, topics []string) error {
	for _, t := range topics {
		if strings.Contains(t, "://") {
			return usagef("%s: %q is an endpoint, not a topic prefix: write poolctl %s --pubsub-endpoint %s (a topic prefix is watcher.web. or arbiter.)", calledAs, t, calledAs, t)
		}
	}
	return nil
}

// seqValue is --since: an event's seq, a whole number >= 0, with a
// message that says so (pflag's own quoted strconv.ParseUint).
type seqValue struct {
	n   uint64
	set bool
}

func (v *seqValue) String() string {
	if !v.set {
		return ""
	}
	return strconv.FormatUint(v.n, 10)
}

func (v *seqValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want an event's seq, a whole number >= 0 (the \"seq\" of an event in poolctl --json events), got %q", s)
	}
	v.n, v.set = n, true
	return nil
}

func (v *seqValue) Type() string { return "seq" }

// events prints events until ctx is cancelled (Ctrl-C), which is success.
// Over the control endpoint it goes live from poold's current seq through
// the replayer, so a stream lost to an upgrade resumes without a gap.
func (a *app) events(ctx context.Context, prefixes []string) error {
	if a.remote() {
		return a.remoteEvents(ctx, prefixes, -1)
	}
	through, err := a.currentSeq(ctx)
	if err != nil {
		return quietOnCancel(ctx, err)
	}
	return a.eventsSince(ctx, through, prefixes)
}

// eventsSince prints the events after since, then live ones (replayer;
// over the API the server replays).
func (a *app) eventsSince(ctx context.Context, since uint64, prefixes []string) error {
	if a.remote() {
		return a.remoteEvents(ctx, prefixes, int64(since))
	}
	ep, err := a.pubsubEndpoint(ctx)
	if err != nil {
		return err
	}
	r := &replayer{a: a, prefixes: prefixes, last: since, print: a.printEvent}
	sub, err := a.resubscribe(ctx, ep, r, time.Now())
	if err != nil {
		return quietOnCancel(ctx, err)
	}
	defer func() {
		if sub != nil {
			sub.Close()
		}
		r.close()
	}()
	for {
		topic, payload, err := sub.RecvRaw(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// poold re-executed itself (upgrade) or restarted: subscribe
			// again and replay what was missed.
			fmt.Fprintf(a.stderr, "poolctl: event stream lost (%v); reconnecting from #%d\n", err, r.last)
			sub.Close()
			r.close()
			if sub, err = a.resubscribe(ctx, ep, r, time.Now().Add(resubscribeFor)); err != nil {
				return quietOnCancel(ctx, err)
			}
			continue
		}
		if err := r.live(ctx, topic, payload); err != nil {
			return quietOnCancel(ctx, err)
		}
	}
}

func quietOnCancel(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// printEvent writes one event line, JSON with --json.
func (a *app) printEvent(topic string, payload []byte) error {
	var err error
	if a.json {
		err = writeEventJSON(a.stdout, topic, payload)
	} else {
		_, err = fmt.Fprintln(a.stdout, eventLine(topic, payload))
	}
	if err != nil {
		return runError{err}
	}
	return nil
}

// pubsubEndpoint is --pubsub-endpoint, else poold's own pubsub_endpoint.
func (a *app) pubsubEndpoint(ctx context.Context) (string, error) {
	if a.pubsub != "" {
		return a.pubsub, nil
	}
	client, err := a.dial()
	if err != nil {
		return "", err
	}
	defer client.Close()
	return a.askPubsub(ctx, client)
}

func (a *app) askPubsub(ctx context.Context, client caller) (string, error) {
	cl := call{command: "globaloptions", what: "globaloptions pubsub_endpoint", props: map[string]any{"option": "pubsub_endpoint"}}
	_, r, err := a.roundTrip(ctx, client, cl, a.timeoutFor(noWait))
	if err != nil {
		return "", err
	}
	opts, _ := r["options"].(map[string]any)
	ep, _ := opts["pubsub_endpoint"].(string)
	if ep == "" {
		reason, _ := r["reason"].(string)
		return "", replyError{reason: fmt.Sprintf("poold did not report its pubsub_endpoint (%s); set --pubsub-endpoint", reason)}
	}
	return ep, nil
}

func writeEventJSON(w io.Writer, topic string, payload []byte) error {
	if !json.Valid(payload) {
		payload, _ = json.Marshal(string(payload))
	}
	t, _ := json.Marshal(topic)
	_, err := fmt.Fprintf(w, "{\"topic\":%s,\"event\":%s}\n", t, payload)
	return err
}

// eventFieldNames renames Circus's payload keys for people.
var eventFieldNames = map[string]string{"process_pid": "pid", "process_id": "wid", "exit_code": "exit"}

// eventLine formats one event: local time, topic, then the payload's
// fields as key=value (pid and wid first, time and seq left out).
func eventLine(topic string, payload []byte) string {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return fmt.Sprintf("%s %s %s", time.Now().Format("15:04:05.000"), topic, strings.TrimSpace(string(payload)))
	}
	ts := time.Now()
	if t, ok := m["time"].(float64); ok {
		ts = time.Unix(0, int64(t*1e9))
	}
	var b strings.Builder
	b.WriteString(ts.Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(topic)
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "time" && k != "seq" {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		switch k {
		case "process_pid":
			return 0
		case "process_id":
			return 1
		}
		return 2
	}
	sort.Slice(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		name := k
		if n, ok := eventFieldNames[k]; ok {
			name = n
		}
		fmt.Fprintf(&b, " %s=%s", name, render(m[k]))
	}
	return b.String()
}

// progress prints on stderr what a --waiting command is doing: a
// "waiting for" line, then the watcher's events as they arrive. The
// returned stop ends the printer and waits for it. Events are best
// effort: if the stream cannot be reached, only the first line shows.
func (a *app) progress(ctx context.Context, client caller, cl call) (stop func()) {
	fmt.Fprintf(a.stderr, "waiting for '%s'%s...\n", cl.what, waitNote(cl, a.singleton(ctx, client, cl)))
	prefix := "watcher."
	if cl.watcher != "" {
		prefix = "watcher." + strings.ReplaceAll(strings.ToLower(cl.watcher), " ", "_") + "."
	}
	sub, err := a.subscribe(ctx, client, []string{prefix}, -1)
	if err != nil {
		return func() {}
	}
	live, replied := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lingering := false
		for {
			rctx, cancel := live, context.CancelFunc(func() {})
			if lingering {
				rctx, cancel = context.WithTimeout(ctx, progressLinger)
			}
			topic, payload, err := sub.RecvRaw(rctx)
			cancel()
			switch {
			case err == nil:
				fmt.Fprintf(a.stderr, "  %s\n", eventLine(topic, payload))
			case ctx.Err() != nil || lingering:
				return
			case live.Err() != nil:
				// poold replied. Its last events (the reaps) are published
				// about then: print those on their way, until the stream
				// is quiet for progressLinger. Cosmetic, not a sync point.
				lingering = true
			default:
				fmt.Fprintf(a.stderr, "  (event stream ended: %v)\n", err)
				return
			}
		}
	}()
	return func() {
		replied()
		wg.Wait()
		sub.Close()
	}
}

// waitNote says, after "waiting for 'restart web'", what a restart does
// to the pool while poolctl waits: a stop, then a start, with no worker
// serving in between; reload is the deploy that keeps them serving,
// except for a singleton (single: the named watcher is one; unknown:
// poolctl could not tell), whose worker a reload too stops first.
func waitNote(cl call, single singletonAnswer) string {
	if cl.command != "restart" {
		return ""
	}
	const gap = " (its workers stop, then new ones start: none serves in between"
	reload := "poolctl reload"
	if cl.watcher != "" {
		reload += " " + cl.watcher
	}
	switch {
	case single == isSingleton:
		return gap + "; a singleton never runs two workers, so a reload too stops its worker first)"
	case cl.watcher == "" || single == unknownSingleton:
		return fmt.Sprintf("%s; '%s' replaces them without that gap, but for a singleton watcher, which it too stops first)", gap, reload)
	}
	return fmt.Sprintf("%s; '%s' replaces them without that gap)", gap, reload)
}

// singletonAnswer is what poolctl knows of whether a watcher is a singleton.
type singletonAnswer int

const (
	unknownSingleton singletonAnswer = iota
	isSingleton
	notSingleton
)

// singleton asks poold whether the watcher a restart names is a
// singleton, for waitNote; unknownSingleton for another command, a
// restart of every watcher, or no clear answer within a second.
func (a *app) singleton(ctx context.Context, client caller, cl call) singletonAnswer {
	if cl.command != "restart" || cl.watcher == "" {
		return unknownSingleton
	}
	q := call{command: "get", what: "get " + cl.watcher + " singleton", props: map[string]any{"name": cl.watcher, "keys": []string{"singleton"}}}
	_, r, err := a.roundTrip(ctx, client, q, time.Second)
	if err != nil {
		return unknownSingleton
	}
	opts, _ := r["options"].(map[string]any)
	switch opts["singleton"] {
	case true:
		return isSingleton
	case false:
		return notSingleton
	}
	return unknownSingleton
}

// progressLinger is how long --waiting keeps printing events after the
// reply, once no more arrive.
const progressLinger = 50 * time.Millisecond
