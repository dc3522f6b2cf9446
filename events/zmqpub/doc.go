// Package zmqpub publishes poold's events on a ZeroMQ PUB socket
// (PROTOCOL.md sections 2 and 3) and provides the matching SUB client for
// poolctl and tests.
//
// Every message has two frames: the topic, and the event's JSON payload
// (events.Event.MarshalPayload). poold runs two Publishers, one for the
// lifecycle events at pubsub_endpoint and one for the stats stream at
// stats_endpoint, each fed by its own events.Bus.
//
// # Slow and hostile subscribers
//
// zmq4 v0.17.0 alone lets one non-reading SUB stall the PUB for everyone,
// queues without bound and lets a silent TCP peer block its accept loop.
// A Publisher therefore
//
//   - takes events from the bus through a bounded Subscription: the bus
//     never blocks its producer and counts what does not fit (Dropped);
//   - binds through its own zmqguard.Guard, which does each handshake off
//     the accept loop with a deadline, buffers at most a few MiB per peer
//     (dropping whole messages for that peer alone, and evicting a peer that
//     takes no byte for StallTimeout), and caps inbound frames;
//   - sets zmq4's PUB high-water mark, so zmq4's own queue between Send
//     and the per-peer buffers is bounded too (WithHWM); zmq4 drops beyond
//     it without telling, so under a sustained flood some losses are seen
//     only as gaps in seq, not in a counter (see DefaultHWM);
//   - logs the loss counters at warn, at most once per report interval and
//     only when they grew.
//
// # Concurrency
//
// Publisher: New does no I/O and starts nothing. Run may be called once; it
// owns one goroutine (its caller's) that reads the bus subscription and
// calls zmq4's Send, so messages leave in bus order. Dropped, Stats,
// Endpoint and Ready are safe to call from any goroutine at any time.
//
// Subscriber: Dial connects and starts one pump goroutine that moves
// messages from zmq4 to a small channel; Close stops and waits for it.
// Recv may be called from one goroutine at a time; Close from any.
//
// zmq4 itself starts goroutines that its Close does not wait for (accept
// loop, per-connection readers, a reaper); they end shortly after Close.
// One of them, the PUB's sender (zmq4's pubMWriter.run), never ends: zmq4's
// socket Close does not stop it. Each Publisher.Run therefore leaves one
// parked goroutine behind, which also keeps the socket's last connections
// (and whatever the guard had buffered for them) reachable; tests ignore
// exactly that function. poold runs each Publisher once per process, so
// this is bounded.
package zmqpub
