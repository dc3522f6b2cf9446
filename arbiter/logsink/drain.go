package logsink

import "time"

// Drain waits, up to timeout, until every queued record was written (or
// dropped): poold calls it before re-executing itself, whose exec would
// lose the queue. It polls with a short period; the sink goes on running.
func (s *Sink) Drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		empty := s.queued == 0 && len(s.queue) == 0
		s.mu.Unlock()
		if empty && s.writingSince.Load() == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}
