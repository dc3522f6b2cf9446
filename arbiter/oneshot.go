package arbiter

import "github.com/poold/poold/watcher"

// One-shots (respawn = false) stop on their own once their workers have
// ended. A waited command that started one must then say how its work
// ended, not that a stop canceled it: the watcher tells the two apart
// (watcher.RanOut), these word it for the replies.

// stoppedWhy words a watcher found stopped when a waited cmd that meant
// it to run settles: a one-shot whose workers all ended on their own
// (watcher.RanOut) ran, and failed ("" when it ended as configured:
// its work is done, which the ok reply's ended field says); any other
// was stopped by someone (cutShort).
func stoppedWhy(w *watcher.Watcher, cmd string) string {
	if !w.RanOut() {
		return cutShort(w, cmd)
	}
	if why, ok := w.OneShotEnd(); !ok {
		return why
	}
	return ""
}

// appendWhy appends why to parts unless it is "".
func appendWhy(parts []string, why string) []string {
	if why == "" {
		return parts
	}
	return append(parts, why)
}

// endedOf words, for the ok reply of a waited command, how the
// one-shots of ws that ran out ended as configured (watcher.OneShotEnd),
// by name; nil when none did.
func endedOf(ws []*watcher.Watcher) map[string]any {
	var out map[string]any
	for _, w := range ws {
		if !w.RanOut() {
			continue
		}
		if why, ok := w.OneShotEnd(); ok {
			if out == nil {
				out = map[string]any{}
			}
			out[w.Name()] = why
		}
	}
	return out
}

// withEnded adds to the fields of a waited command's ok reply "ended",
// how the one-shots among ws ended as configured (endedOf): poold's
// addition, so that a client hears that the work ran and is done, not
// only that it was started.
func withEnded(fields map[string]any, ws []*watcher.Watcher) map[string]any {
	ended := endedOf(ws)
	if ended == nil {
		return fields
	}
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ended"] = ended
	return fields
}

// oneShotsOf sorts the added watchers a config reload started that ran
// out (watcher.RanOut) by how they ended: failed maps those that failed
// to why, ended those whose work is done; the others are left to
// notStarted.
func oneShotsOf(started []*watcher.Watcher) (failed, ended map[string]string) {
	failed, ended = map[string]string{}, map[string]string{}
	for _, w := range started {
		if !w.RanOut() {
			continue
		}
		if why, ok := w.OneShotEnd(); ok {
			ended[w.Name()] = why
		} else {
			failed[w.Name()] = why
		}
	}
	return failed, ended
}
