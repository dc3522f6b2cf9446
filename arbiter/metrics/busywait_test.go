package metrics

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// A scrape that comes while an earlier scrape's read of /proc still runs
// waits for it, within its own bound, and then reads: a second
// Prometheus a second behind the first got no usage series at all while
// the first one's read was about to end (r65 review2 M2).
func TestScrapeWaitsForARunningReadWithinItsBound(t *testing.T) {
	var logs syncBuf
	src, url := newStuckRig(t, &logs)
	for len(src.snaps) > 0 { // the rig's own
		<-src.snaps
	}
	first := make(chan error, 1)
	go func() { _, err := scrapeFams(url, "4"); first <- err }()
	<-src.entered // the first scrape's read is stuck
	if err := <-first; err != nil {
		t.Fatalf("first scrape: %v", err)
	}
	for len(src.snaps) > 0 {
		<-src.snaps
	}

	type answer struct {
		fams map[string]*dto.MetricFamily
		err  error
	}
	second := make(chan answer, 1)
	// The second has Prometheus's longest bound (poold's 10 s): its wait
	// for the read to end and its own read after it must fit in its bound
	// on a loaded machine; a scrape that does not wait answers at once.
	go func() { fams, err := scrapeFams(url, "10"); second <- answer{fams, err} }()
	<-src.snaps // the second scrape has its Snapshot while the read still runs
	src.held.Store(false)
	src.unstick()
	got := <-second
	if got.err != nil {
		t.Fatalf("second scrape: %v", got.err)
	}
	missing, _ := value(got.fams, "poold_scrape_usage_missing_workers", nil)
	if n := len(gaugeValues(got.fams, "poold_worker_resident_memory_bytes")); n != 2 || missing != 0 {
		t.Errorf("second scrape: %d workers' usage, %v missing; want 2 and 0: it answered without waiting for the read about to end\n%s", n, missing, logs.String())
	}
}

// scrapeFams GETs url once as Prometheus does with a scrape_timeout of
// timeout seconds.
func scrapeFams(url, timeout string) (map[string]*dto.MetricFamily, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set(scrapeTimeoutHeader, timeout)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %v\n%s", resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}
