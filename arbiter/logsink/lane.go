package logsink

// Lane is one watcher's way into the sink: an io.Writer like the sink,
// whose records may take only part of the queue (see the package doc),
// so that a chatty watcher drops its own lines before it takes the room
// of poold's records or of every other watcher's.
type Lane struct {
	s      *Sink
	name   string
	onDrop func(lines uint64, c Cause)
	// lines and bytes are this lane's records in the queue, under s.mu.
	lines, bytes int
}

// Cause is why lines were dropped: the watcher's count words each cause
// with its own remedy.
type Cause int

const (
	// QueueFull: the queue, or the lane's part of it, was full (or the
	// sink closing): lines came faster than the output took them.
	QueueFull Cause = iota
	// OutputFailed: the output failed the write (ENOSPC, EIO) or is gone
	// (EPIPE, EBADF: `poold cfg 2>&1 | head` after head exited); the queue
	// may be empty. A chatty watcher is not the cause.
	OutputFailed
)

// Lane returns a new lane named name (the watcher's, in drop reports);
// onDrop (nil: none) is told of each of its lines dropped, and why, for
// the watcher's own count. It is called on the goroutine that wrote the
// line, or on Run's, and must not block.
func (s *Sink) Lane(name string, onDrop func(lines uint64, c Cause)) *Lane {
	if onDrop == nil {
		onDrop = func(uint64, Cause) {}
	}
	return &Lane{s: s, name: name, onDrop: onDrop}
}

// Write queues a copy of p, as the sink's Write does, within the lane's
// part of the queue. It never blocks and never fails.
func (l *Lane) Write(p []byte) (int, error) {
	l.s.put(p, l)
	return len(p), nil
}

// laneRoom reports whether a record of n bytes that came by lane fits
// the lanes' part of the queue and lane's own: all lanes may hold three
// quarters of the lines and bytes, one lane half. poold's own records
// (lane nil) may take the whole queue. Called with s.mu held.
func (s *Sink) laneRoom(lane *Lane, n int) bool {
	if lane == nil {
		return true
	}
	return s.laneLines+1 <= s.maxLines*3/4 && s.laneBytes+n <= s.maxBytes*3/4 &&
		lane.lines+1 <= s.maxLines/2 && lane.bytes+n <= s.maxBytes/2
}

// count adds lines and bytes (negative: taken out) to lane's counts and
// the lanes' in all. Called with s.mu held.
func (s *Sink) count(lane *Lane, lines, bytes int) {
	if lane == nil {
		return
	}
	lane.lines += lines
	lane.bytes += bytes
	s.laneLines += lines
	s.laneBytes += bytes
}
