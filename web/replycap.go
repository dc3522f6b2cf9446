package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// A reply leaves in parts, each within writeWait (replywait.go), so a
// client that stops reading is cut; but one that reads at the least
// rate that keeps it (a part of 64 KiB per 10 s) holds its reply's bytes
// for as long as the reply takes: a 5 MB logs reply, half an hour. A
// holder of any token (a read-only one will do) with many connections
// held that many replies in poold's memory: 200 such clients of a 4 MB
// logs reply took poold from 26 MB to over 2 GB of RSS.
//
// So the big replies being written are counted, per token and in all
// (ReplyBudget), as the control endpoint counts the replies its clients
// have not read (zmqguard, MaxUnread). A big reply (one write of at
// least replyPart, as an API command's reply, a /metrics scrape's) that
// would take its token past perKey, or all of them past total, is not
// sent: its client gets 503 with Retry-After at once, before a byte of
// it leaves, and poold drops the bytes. A reply once started is never
// cut for the budget (a client that reads is never the one to pay), and
// a token that holds nothing gets its reply whatever its size (else a
// reply bigger than the bound could never be read), as does anyone when
// nothing is held. Replies under replyPart (status, incr, a page) are
// neither counted nor refused: they leave in one part or their client
// is cut within writeWait, so an operator's command goes through
// whatever the crowd.

// A reply is built before it is written (the arbiter's answer, its
// JSON), and a crowd asking at once built all of theirs at once: 200
// logs asked together took poold to 2 GB before a byte of them was
// counted. So the queries (what a read-only token may run) and /metrics
// wait for one of maxBuilding turns to build their reply, and in its
// turn a caller whose token (or everyone) already holds its bound is
// refused before anything is built; the turn ends with the reply's
// first write, once it is counted.

// maxBuilding is how many replies are built at once: each takes
// milliseconds, and waiting for a turn costs a caller as much.
const maxBuilding = 4

// Defaults of a ReplyBudget.
const (
	// DefaultRepliesPerToken is the most of big replies' bytes one token
	// (or, without one, one client address) holds at once: several of
	// the biggest replies poold gives (logs of a full ring, /metrics or
	// stats at 10,000 workers, 4 to 8 MB each).
	DefaultRepliesPerToken = 32 << 20
	// DefaultReplies is the most held by all clients of the console's
	// listener and metrics_address together.
	DefaultReplies = 128 << 20
)

// replyRetry is the Retry-After of a refused reply, in seconds: the
// replies held leave at 6.4 KiB/s at the least, the crowd's faster.
const replyRetry = 5

// ReplyBudget bounds the bytes of big replies held while their clients
// read them; the console's listener and metrics_address of one poold
// share one (Options.Replies, ProbeOptions.Replies). Safe for
// concurrent use; the zero value is not usable: use NewReplyBudget.
type ReplyBudget struct {
	perKey, total int64

	building chan struct{} // a turn to build a reply (maxBuilding)

	mu   sync.Mutex
	held map[string]int64
	sum  int64
}

// NewReplyBudget returns a budget of perKey bytes per token and total in
// all (<= 0: the defaults).
func NewReplyBudget(perKey, total int64) *ReplyBudget {
	if perKey <= 0 {
		perKey = DefaultRepliesPerToken
	}
	if total <= 0 {
		total = DefaultReplies
	}
	return &ReplyBudget{perKey: perKey, total: total, held: map[string]int64{}, building: make(chan struct{}, maxBuilding)}
}

// build waits for a turn to build a reply of key's: refused says why
// when key, or everyone, holds its bound already, err when ctx ended
// first. Otherwise end ends the turn (idempotent).
func (b *ReplyBudget) build(ctx context.Context, key string) (end func(), refused string, err error) {
	select {
	case b.building <- struct{}{}:
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	if refused = b.full(key); refused != "" {
		<-b.building
		return nil, refused, nil
	}
	return sync.OnceFunc(func() { <-b.building }), "", nil
}

// full says why key may not start a big reply now: it, or everyone,
// holds its bound already ("" if neither).
func (b *ReplyBudget) full(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if mine := b.held[key]; mine >= b.perKey {
		return fmt.Sprintf("%s holds %d MiB of replies its clients are still reading, the most one token holds; read those first, or give each client a token of its own", key, mib(mine))
	}
	if b.sum >= b.total {
		return fmt.Sprintf("the clients of poold's HTTP listeners are reading %d MiB of replies, the most poold holds for them", mib(b.sum))
	}
	return ""
}

// take counts n bytes of key's; with check, only if that keeps key
// within perKey and all within total (or key, or all, hold nothing),
// else it counts nothing and says why.
func (b *ReplyBudget) take(key string, n int64, check bool) (refused string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	mine := b.held[key]
	if check && mine > 0 && mine+n > b.perKey {
		return fmt.Sprintf("%s holds %d MiB of replies its clients are still reading, and this one (%d MiB) would take it past %d MiB, the most one token holds; read those first, or give each client a token of its own",
			key, mib(mine), mib(n), mib(b.perKey))
	}
	if check && b.sum > 0 && b.sum+n > b.total {
		return fmt.Sprintf("the clients of poold's HTTP listeners are reading %d MiB of replies, and this one (%d MiB) would take them past %d MiB, the most poold holds for them",
			mib(b.sum), mib(n), mib(b.total))
	}
	b.held[key] = mine + n
	b.sum += n
	return ""
}

// give uncounts n bytes of key's.
func (b *ReplyBudget) give(key string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held[key] -= n; b.held[key] <= 0 {
		delete(b.held, key)
	}
	b.sum -= n
}

// Held is the bytes counted now, in all (for tests and metrics).
func (b *ReplyBudget) Held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sum
}

// mib is n bytes in MiB, rounded.
func mib(n int64) int64 { return (n + 1<<19) >> 20 }

// refuseReply answers 503 with why in place of a reply over the budget:
// as text, or through apiRefuse (a Circus reply) when set. What the
// handler set for its reply's body goes.
func refuseReply(w http.ResponseWriter, why string, apiRefuse func(http.ResponseWriter, string)) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Content-Range")
	h.Set("Retry-After", strconv.Itoa(replyRetry))
	if apiRefuse != nil {
		apiRefuse(w, why)
		return
	}
	http.Error(w, "poold: reply not sent: "+why+"; retry in "+strconv.Itoa(replyRetry)+"s", http.StatusServiceUnavailable)
}
