package web

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
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
// whatever the crowd. What is counted is what poold still holds: a
// reply leaves the count once the kernel took its last part, and on
// loopback a connection's socket buffers take a few MB of it at once.

// A reply is built before it is written (the arbiter's answer, its
// JSON), and a crowd asking at once built all of theirs at once: 200
// logs asked together took poold to 2 GB before a byte of them was
// counted. So the queries whose reply can be big (bigQuery: logs,
// stats, events_since, status and list of one watcher, as many rows as
// it has workers) take turns to build it (buildTurns): maxBuilding at
// once, at most maxBuildingPerKey of them one token's, the next free
// turn to the token holding the fewest. A token's crowd waits behind
// itself; another token waits at most for one build. The turn ends with
// the reply's first write, once it is counted or refused: a reply is
// refused only there, by its size, never before it is built, so a
// query whose reply turns out small is never refused. The small queries
// (status, list, numwatchers, get ...) take no turn at all.
// /metrics takes none either: the exporter builds at most four scrapes
// at once already (arbiter/metrics, inFlight), and refuses the others.

// maxBuilding is how many big replies are built at once, and
// maxBuildingPerKey how many of them one token's: each takes
// milliseconds, and waiting for a turn costs a caller as much.
const (
	maxBuilding       = 4
	maxBuildingPerKey = 2
)

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

	turns *buildTurns // to build a big reply

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
	return &ReplyBudget{perKey: perKey, total: total, held: map[string]int64{}, turns: newBuildTurns(maxBuilding, maxBuildingPerKey)}
}

// build waits for a turn to build a big reply of key's: end ends it
// (idempotent); err is ctx's when it ended first.
func (b *ReplyBudget) build(ctx context.Context, key string) (end func(), err error) {
	return b.turns.wait(ctx, key)
}

// bigQuery reports whether the reply to a query (arbiter.ReadOnly) can
// be big, a row or more per worker or line: it is built in turn. Those
// of status and list of all watchers grow with the watchers, as
// numwatchers, get, options, dstats and the others hold a few rows.
func bigQuery(command string, props map[string]any) bool {
	switch command {
	case "logs", "stats", "events_since":
		return true
	case "status", "list":
		_, one := props["name"]
		return one
	}
	return false
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
			shownKey(key), mib(mine), mib(n), mib(b.perKey))
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

// shownKey is key as a refused client is told it: a token by its
// file's name, not where it is on the server ("token view.token").
func shownKey(key string) string {
	if f, ok := strings.CutPrefix(key, "token "); ok {
		return "token " + filepath.Base(f)
	}
	return key
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
