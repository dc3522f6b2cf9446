package web

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/poold/poold/arbiter"
)

// refreshCalls is how many backend calls a refresh has in flight at once.
// poold answers them one at a time on its loop; a few in flight keep it
// busy while each reply travels back, so a refresh of many watchers takes
// the loop's time rather than its round trips.
const refreshCalls = 4

// loader makes a refresh's backend calls, each within its own timeout: a
// refresh of N watchers makes 2 + 2N of them (3 per watcher for a partial
// one), and one bound for them all failed every refresh of a big poold
// whose loop was busy, the moment the console mattered most.
type loader struct {
	b  Backend
	to time.Duration // bound on one call
}

// call runs one command within the loader's timeout.
func (l loader) call(ctx context.Context, command string, props map[string]any) (map[string]any, error) {
	cctx, cancel := context.WithTimeout(ctx, l.to)
	defer cancel()
	// Every console, read-only or not, gets what the loader read, and the
	// page shows no env: read as a read-only caller, so env's values
	// (passwords, API keys) never reach a browser unasked.
	return call(arbiter.WithRole(cctx, arbiter.RoleReadOnly), l.b, command, props)
}

// each runs fn(i) for i in [0, n), refreshCalls at a time, and returns
// the first error; after one, the calls not yet begun are skipped.
func each(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(refreshCalls, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// loadAll builds the whole state from status, options, stats, listsockets
// and dstats; each watcher's own status reply adds its reason and slots.
func (l loader) loadAll(ctx context.Context) (*stateView, error) {
	st, err := l.call(ctx, "status", nil)
	if err != nil {
		return nil, err
	}
	statuses := statesOf(st)
	stats, err := l.call(ctx, "stats", nil)
	if err != nil {
		return nil, err
	}
	infos, _ := stats["infos"].(map[string]any)
	reasons, _ := st["reasons"].(map[string]any)
	names := make([]string, 0, len(statuses))
	for name := range statuses {
		names = append(names, name)
	}
	sort.Strings(names)
	views := make([]*watcherView, len(names))
	err = each(ctx, len(names), func(ctx context.Context, i int) error {
		w := &watcherView{Name: names[i], Status: fmt.Sprint(statuses[names[i]]), Procs: procsOf(infos[names[i]])}
		w.Reason, _ = reasons[names[i]].(string)
		ok, err := l.optionsAndStatus(ctx, w)
		if ok {
			views[i] = w
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sv := &stateView{Loaded: true}
	for _, w := range views {
		if w != nil {
			sv.Watchers = append(sv.Watchers, w)
		}
	}
	if err := l.loadPoold(ctx, sv); err != nil {
		return nil, err
	}
	return sv, nil
}

// optionsAndStatus fills w's options and its own status; false, nil when
// the watcher was removed meanwhile.
func (l loader) optionsAndStatus(ctx context.Context, w *watcherView) (bool, error) {
	p := map[string]any{"name": w.Name}
	opts, err := l.call(ctx, "options", p)
	if err == nil {
		var one map[string]any
		if one, err = l.call(ctx, "status", p); err == nil {
			w.setStatus(one)
		}
	}
	if isUnknown(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	w.Options, _ = opts["options"].(map[string]any)
	return true, nil
}

// loadPoold adds the sockets and poold's own row, where the backend has
// those commands.
func (l loader) loadPoold(ctx context.Context, sv *stateView) error {
	if ls, err := l.call(ctx, "listsockets", nil); err == nil {
		for _, s := range asSlice(ls["sockets"]) {
			if m, ok := s.(map[string]any); ok {
				sv.Sockets = append(sv.Sockets, m)
			}
		}
	} else if !isUnknownCommand(err) {
		return err
	}
	if ds, err := l.call(ctx, "dstats", nil); err == nil {
		sv.Poold, _ = ds["info"].(map[string]any)
	} else if !isUnknownCommand(err) {
		return err
	}
	return nil
}

// loadWatchers refreshes the named watchers; a nil view means that one no
// longer exists.
func (l loader) loadWatchers(ctx context.Context, names []string) (map[string]*watcherView, error) {
	views := make([]*watcherView, len(names))
	err := each(ctx, len(names), func(ctx context.Context, i int) error {
		w, err := l.loadWatcher(ctx, names[i])
		views[i] = w
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*watcherView, len(names))
	for i, n := range names {
		out[n] = views[i]
	}
	return out, nil
}

// loadWatcher refreshes one watcher; nil, nil means it no longer exists.
func (l loader) loadWatcher(ctx context.Context, name string) (*watcherView, error) {
	p := map[string]any{"name": name}
	st, err := l.call(ctx, "status", p)
	if isUnknown(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w := &watcherView{Name: name}
	w.setStatus(st)
	opts, err := l.call(ctx, "options", p)
	if isUnknown(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w.Options, _ = opts["options"].(map[string]any)
	stats, err := l.call(ctx, "stats", p)
	if isUnknown(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	w.Procs = procsOf(stats["info"])
	return w, nil
}
