package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// A scrape's writes fail once its request has ended: the scraper went
// away (context.Canceled) or the scrape ran out of time (the timeout
// handler's deadline). promhttp then reports the failed write of every
// metric family that follows, one line each, none of which says who or
// what to do. Those ends are logged once per scrape by scrapeEnd; every
// other error (a metric that cannot be encoded, a failed gather) is
// logged as it comes, at WARN.

// scrapeErrors is promhttp's ErrorLog.
type scrapeErrors struct{ log hclog.Logger }

func (s scrapeErrors) Println(v ...any) {
	for _, a := range v {
		if err, ok := a.(error); ok && requestEnded(err) {
			return // scrapeEnd logs it once
		}
	}
	s.log.Warn(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// requestEnded reports whether err is a write to a scrape whose request
// has ended.
func requestEnded(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, http.ErrHandlerTimeout)
}

// scrapeEnd wraps the scrape handler (inside the timeout handler) to log,
// once the scrape is done, why its request ended before it: the scraper
// went away (DEBUG: nothing is wrong with poold) or the scrape took
// longer than limit (WARN: it was answered 503).
func (e *Exporter) scrapeEnd(next http.Handler, limit time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		next.ServeHTTP(w, r)
		switch err := r.Context().Err(); {
		case errors.Is(err, context.DeadlineExceeded):
			e.log.Warn("scrape answered 503: it took longer than its limit; poold's loop or its /proc reads are slow (see the warnings around this one, and the machine's load)",
				"remote", r.RemoteAddr, "limit", limit, "took", time.Since(began).Round(time.Millisecond))
		case err != nil:
			e.log.Debug("scraper went away before its answer was sent", "remote", r.RemoteAddr,
				"after", time.Since(began).Round(time.Millisecond))
		}
	})
}
