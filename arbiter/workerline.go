package arbiter

import "github.com/hashicorp/go-hclog"

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
