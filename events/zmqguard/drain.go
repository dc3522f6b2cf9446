package zmqguard

import "github.com/go-zeromq/zmq4"

// DrainAfterClose empties zmq4's receive queue after sock was closed (its
// context cancelled). zmq4 has one reader goroutine per connection that
// blocks for ever sending to a full queue once nobody receives (its send
// does not watch the socket's context); freeing the queue lets it end.
// A closed socket's Recv picks at random between a queued message and
// the cancel, so it keeps receiving until the cancel has come 64 times in
// a row (a queued message survives that with probability 2^-64).
func DrainAfterClose(sock zmq4.Socket) {
	for misses := 0; misses < 64; {
		if msg, err := sock.Recv(); err != nil && msg.Frames == nil {
			misses++
		} else {
			misses = 0
		}
	}
}
