package arbiter

import (
	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
)

// lineLogs makes, for each watcher, the logger of its workers' lines
// whose sink is "stderr": as workerLog's, but into a lane of its own on
// poold's log queue, so a chatty watcher fills only part of the queue
// (logsink.Lane) and its dropped lines count in its own logs.dropped
// (dropped is told of each, and why). Nil without a queue (tests):
// poold's own.
func (a *Arbiter) lineLogs() func(watcher string, dropped func(lines uint64, c logsink.Cause)) hclog.Logger {
	if a.opts.Logs == nil {
		return nil
	}
	name, json := a.log.Name(), a.cfg.Arbiter.LogFormat == "json"
	return func(watcher string, dropped func(uint64, logsink.Cause)) hclog.Logger {
		return hclog.New(&hclog.LoggerOptions{
			Name:       name,
			Level:      hclog.Info,
			Output:     a.opts.Logs.Lane(watcher, dropped),
			JSONFormat: json,
		})
	}
}

// workerLog is where the lines of workers whose sink is "stderr" go: a
// logger of its own at Info on poold's log queue, in poold's format, so
// that log_level filters what poold says and never what workers say, as
// in circusd and supervisord (log_level = "warn" used to drop every
// worker line, uncounted). Without a queue (tests), poold's own logger.
func (a *Arbiter) workerLog() hclog.Logger {
	if a.opts.Logs == nil {
		return a.log
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       a.log.Name(),
		Level:      hclog.Info,
		Output:     a.opts.Logs,
		JSONFormat: a.cfg.Arbiter.LogFormat == "json",
	})
}
