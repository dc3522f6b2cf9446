// Package events defines poold's lifecycle event and an in-process bus that
// fans events out to subscribers.
//
// Concurrency: Bus is safe for concurrent use. Publish never blocks: each
// subscriber has its own bounded queue, and an event that does not fit is
// dropped for that subscriber alone and counted. The bus's only lock guards
// the subscriber list, the sequence counter and the history of recent
// events (KeepHistory, Since), a small deliberately shared leaf (STYLE.md
// rule 8): an event gets its seq and enters the history in one critical
// section, which is what lets a late subscriber replay without a gap.
package events

import (
	"strings"
	"time"
)

// Event is one lifecycle event. Its wire form (PROTOCOL.md section 2) is two
// frames: Topic, and the JSON of Payload().
type Event struct {
	// Seq increases by one for every event a Bus publishes, so a
	// subscriber can detect gaps.
	Seq  uint64
	Time time.Time
	// Topic is "watcher.<name>.<kind>", "arbiter.<kind>" or, on a stats
	// bus, "stat.<...>".
	Topic string
	// Watcher is the watcher's name as configured, "" for arbiter events.
	Watcher string
	// Kind is the last part of the topic: KindSpawn, KindReap, ... (see
	// Kind for each one's Fields).
	Kind Kind
	// Fields are the event's own payload fields (process_pid, process_id,
	// exit_code, reason, ...). Never mutated after Publish.
	Fields map[string]any
	// Instance names the poold that published the event (Bus.SetInstance):
	// it stays across an in-place upgrade, where Seq goes on, and is new
	// after a restart, where Seq starts again at 1. "" on a bus without
	// one (the stats stream): the payload then has no instance key.
	Instance string `json:",omitempty"`
}

// Payload is the JSON object sent on the wire: Fields plus time (unix
// seconds, float), seq and, when the event has one, instance.
func (e Event) Payload() map[string]any {
	p := make(map[string]any, len(e.Fields)+3)
	for k, v := range e.Fields {
		p[k] = v
	}
	p["time"] = float64(e.Time.UnixNano()) / 1e9
	p["seq"] = e.Seq
	if e.Instance != "" {
		p["instance"] = e.Instance
	}
	return p
}

// MarshalPayload encodes Payload as JSON: the bytes of
// json.Marshal(e.Payload()), written without its reflection where it can
// (payload.go).
func (e Event) MarshalPayload() []byte {
	b, err := appendPayload(make([]byte, 0, 512), e)
	if err != nil {
		// Fields hold only numbers, strings, bools, slices and maps built
		// by poold itself; failing here is a programming error.
		panic("events: marshal payload: " + err.Error())
	}
	return b
}

// TopicName turns a watcher name into its topic form: lower case, spaces
// replaced by underscores.
func TopicName(watcher string) string {
	return strings.ReplaceAll(strings.ToLower(watcher), " ", "_")
}

// WatcherTopic is "watcher.<name>.<kind>".
func WatcherTopic(watcher string, kind Kind) string {
	return "watcher." + TopicName(watcher) + "." + string(kind)
}
