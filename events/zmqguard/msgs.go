package zmqguard

import "sort"

// Which messages the outgoing buffer holds: a conn records where each
// message it queues starts (c.starts), so that it can count those a peer
// never got (discard) and tell one big message from a queue of several
// (queuedManyLocked).

// queuedManyLocked tells whether bytes of more than one message are
// queued, in pending or in the buffer being written (commands aside).
// zmq4 writes a frame's header and its body in two calls, and the writer
// may take the header alone between them: the body that follows is still
// the same message, not a second one behind it. Bytes in flight that
// continue a message count as one; with nothing in flight, only messages
// that start in pending count. (c.mu held.)
func (c *conn) queuedManyLocked() bool {
	n := len(c.starts)
	if c.inflight > 0 {
		n += c.inflightMsgs
	}
	return n > 1
}

// midMessage tells whether the next byte s steps belongs to a message
// begun before it (not a greeting's, a command's or a new message's).
func (s *stream) midMessage() bool {
	return s.greetLeft == 0 && !s.atMessageStart() && s.flags&flagCommand == 0
}

// discard counts n messages that will never reach the peer.
func (c *conn) discard(n int) {
	if n > 0 {
		c.g.dropped.Add(uint64(n))
		c.g.discarded.Add(uint64(n))
		c.dropCount.Add(uint64(n))
	}
}

// unwritten counts the messages of a buffer of size total, starting at
// starts, that did not go out whole in its first written bytes. (A message
// that began in the previous buffer is counted there, as written.)
func unwritten(starts []int, written, total int) int {
	whole := sort.Search(len(starts), func(i int) bool {
		end := total
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		return end > written
	})
	return len(starts) - whole
}
