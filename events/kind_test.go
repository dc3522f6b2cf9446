package events

import (
	"regexp"
	"testing"
)

// A kind is one topic segment: a subscriber filters on
// "watcher.<name>.<kind>", so a dot or upper case would break prefixes.
func TestKindsAreDistinctTopicSegments(t *testing.T) {
	segment := regexp.MustCompile(`^[a-z][a-z_]*$`)
	seen := map[Kind]bool{}
	for _, k := range Kinds() {
		if !segment.MatchString(string(k)) {
			t.Errorf("kind %q is not a lower-case topic segment", k)
		}
		if seen[k] {
			t.Errorf("kind %q listed twice", k)
		}
		seen[k] = true
	}
	for _, k := range []Kind{KindFailed, KindFlapping, KindReloadConfig} {
		if !seen[k] {
			t.Errorf("Kinds() lacks %q", k)
		}
	}
	if seen[KindStat] {
		t.Errorf("Kinds() lists %q, which only the stats bus uses", KindStat)
	}
}

func TestTopicCarriesKind(t *testing.T) {
	b := NewBus(nil)
	s := b.Subscribe(10)
	defer s.Close()
	b.Publish("Web", KindFailed, map[string]any{"process_id": 2, "reason": "exited with status 1"})
	ev := <-s.C()
	if ev.Topic != "watcher.web.failed" || ev.Kind != KindFailed {
		t.Errorf("event %+v", ev)
	}
}
