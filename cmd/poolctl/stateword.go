package main

// The status reply gives a watcher's status in Circus's four words
// (status, statuses: stopped, starting, active, stopping), which Circus's
// tools read, and poold's finer word beside it (state, states: also
// flapping and failed). poolctl prints the finer word, as it always has;
// from circusd, or a poold before r65, which send the status alone, it
// prints that.

// stateWord is the word "status NAME" prints for r: its state, else its
// status. A string, or what the reply held there.
func stateWord(r reply) string {
	if s, ok := r["state"].(string); ok {
		return s
	}
	s, _ := r["status"].(string)
	return s
}

// stateWords is the status reply's states (name -> poold's word), else
// its statuses; false when r is not the reply of a status of every
// watcher.
func stateWords(r reply) (map[string]any, bool) {
	st, ok := r["statuses"].(map[string]any)
	if !ok {
		return nil, false
	}
	fine, _ := r["states"].(map[string]any)
	out := make(map[string]any, len(st))
	for name, word := range st {
		if f, ok := fine[name]; ok {
			word = f
		}
		out[name] = word
	}
	return out, true
}
