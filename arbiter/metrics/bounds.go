package metrics

import (
	"net/http"
	"strconv"
	"time"
)

// A scrape answers within its bound with what it has. The bound is the
// scraper's own timeout, which Prometheus sends in
// X-Prometheus-Scrape-Timeout-Seconds (its scrape_timeout, 10 s by
// default), or poold's, twice ScrapeTimeout (10 s), after which the
// handler answers 503 and the scraper has nothing; the lesser of the two.
// Of it, the loop's Snapshot may take ScrapeTimeout (less when the bound
// is short), and the Snapshot and the /proc read of the workers' usage
// together usageShare: the rest is left to gather, encode and send the
// answer (at 10,000 workers about 150 ms of CPU on a quiet machine, some
// seconds on a starved one).

// usageShare is the share of a scrape's bound its reads may take.
const usageShare = 0.8

// scrapeTimeoutHeader is where Prometheus says how long it waits.
const scrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// bounds are one scrape's: it began then, must answer within total,
// waits for the loop's Snapshot until snapBy and for the usage read until
// usageBy.
type bounds struct {
	began           time.Time
	total           time.Duration
	snapBy, usageBy time.Time
}

// boundsOf are the bounds of a scrape of req (nil: one with no header)
// that begins at now.
func (e *Exporter) boundsOf(req *http.Request, now time.Time) bounds {
	total := 2 * e.opts.ScrapeTimeout
	if t, ok := scraperTimeout(req); ok && t < total {
		total = t
	}
	reads := time.Duration(float64(total) * usageShare)
	return bounds{began: now, total: total, snapBy: now.Add(min(e.opts.ScrapeTimeout, reads)), usageBy: now.Add(reads)}
}

// scraperTimeout is the scraper's timeout from req's header; false when
// it sends none, or one that is not a positive number of seconds.
func scraperTimeout(req *http.Request) (time.Duration, bool) {
	if req == nil {
		return 0, false
	}
	v := req.Header.Get(scrapeTimeoutHeader)
	if v == "" {
		return 0, false
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || !(s > 0) || s > 1e6 {
		return 0, false
	}
	return time.Duration(s * float64(time.Second)), true
}
