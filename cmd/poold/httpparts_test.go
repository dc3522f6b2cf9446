package main

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/workertest"
)

// In an upgrade's new image, which holds the workers, a console or
// metrics address that cannot be bound is a warning, never the end of
// poold: the console stays on the listener the previous image handed
// over (the address it had), the metrics listener, which had none, is
// off; each warning names the address, its holder and what to do.
// (The new image of an older build, which does not bind the address
// ahead, hands over such a config.)
func TestAdoptedImageWithoutItsWebAddressesServesOn(t *testing.T) {
	t.Parallel()
	var taken []string
	for range 2 {
		holder, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		taken = append(taken, holder.Addr().String())
	}
	old, err := net.Listen("tcp", "127.0.0.1:0") // the previous image's console
	if err != nil {
		t.Fatal(err)
	}
	httpListeners.mu.Lock()
	httpListeners.inherited["console "+old.Addr().String()] = old
	httpListeners.mu.Unlock()
	t.Cleanup(func() { closeUnclaimed() })

	cfg := &configs.Config{Path: "/etc/poold.toml", Web: configs.Web{Enabled: true, Address: taken[0], MetricsAddress: taken[1]}}
	logBuf := &workertest.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logBuf, Level: hclog.Warn})
	bus := events.NewBus(nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	failed := make(chan error, 8)
	defer wg.Wait()
	defer cancel()
	h := httpParts{cfg: cfg, arb: newHTTPView(arbiter.New(cfg, arbiter.Options{Events: bus})), bus: bus, statsBus: events.NewBus(nil),
		log: log, failed: failed, adopted: true, dropped: map[string]func() uint64{}, evicted: map[string]func() uint64{},
		goRun: func(name string, run func(context.Context) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := run(ctx); err != nil {
					failed <- err
				}
			}()
		}}
	if err := h.start(); err != nil {
		t.Fatalf("start in an adopted image: %v; want warnings only", err)
	}
	if h.console == nil || h.console.Addr() != old.Addr().String() {
		t.Errorf("console %v, want it on the listener handed over, %s", h.console, old.Addr())
	} else if _, err := get("http://" + old.Addr().String() + "/"); err != nil {
		t.Errorf("the console on %s: %v", old.Addr(), err)
	}
	if h.probes != nil {
		t.Errorf("a metrics listener runs; want it off (none was handed over)")
	}
	logged := logBuf.String()
	t.Logf("log:\n%s", logged)
	for _, want := range [][]string{
		{"[WARN]", "console stays where the previous image had it", taken[0], "stays_on=" + old.Addr().String(), "web.address", "address already in use", "holds it", "poolctl upgrade"},
		{"[WARN]", "metrics off in this image", taken[1], "web.metrics_address", "address already in use", "holds it", "poolctl upgrade"},
	} {
		if !contains(logged, want...) {
			t.Errorf("log %q\nwants a line with %q", logged, want)
		}
	}
	if strings.Contains(logged, "[ERROR]") {
		t.Errorf("log has errors: %s", logged)
	}
	select {
	case err := <-failed:
		t.Errorf("a listener failed: %v", err)
	default:
	}
}
