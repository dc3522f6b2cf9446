package arbiter

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// circusNames maps, in place, the watcher options circusd's set and add
// take under names poold spells otherwise, the way the circus.ini
// translator maps them (README "Coming from Circus"):
//
//	max_retry          flapping_max_retry
//	rlimit_NAME: V     rlimits {NAME: V}, the watcher's other limits kept
//	shell: true        cmd /bin/sh, args ["-c", the words of cmd and args]
//	close_child_stdin: true, close_child_stdout and close_child_stderr:
//	false              what poold always does: accepted, nothing to change
//	close_child_stdout: true (stderr likewise), in add
//	                   stdout_log "none": the output is discarded, as
//	                   circusd's /dev/null discards it, whatever a stream
//	                   or stdout_log given with it says (circusCloseChild)
//	stdout_stream, stderr_stream (an object, or stdout_stream.KEY keys)
//	                   stdout_log, stderr_log and log_* (circusStreams)
//	hooks.NAME: CMD    the one hook in hooks, the others kept (circusHooks)
//
// A value poold cannot honour is refused, saying what poold does instead.
func circusNames(out map[string]any, base configs.Watcher) error {
	if v, ok := out["max_retry"]; ok {
		if _, both := out["flapping_max_retry"]; both {
			return fmt.Errorf("max_retry is Circus's name for flapping_max_retry; give one of them, not both")
		}
		out["flapping_max_retry"] = v
		delete(out, "max_retry")
	}
	if err := circusRlimits(out, base); err != nil {
		return err
	}
	if err := circusStreams(out, base); err != nil {
		return err
	}
	if err := circusHooks(out, base); err != nil {
		return err
	}
	if v, ok := out["close_child_stdin"]; ok {
		b, err := circusBool("close_child_stdin", v)
		if err != nil {
			return err
		}
		if !b {
			return fmt.Errorf("close_child_stdin: poold always gives workers /dev/null as stdin (as Circus's close_child_stdin = true); close_child_stdin = false has no poold equivalent, leave it out")
		}
		delete(out, "close_child_stdin")
	}
	if err := circusCloseChild(out); err != nil {
		return err
	}
	return circusShell(out, base)
}

// circusCloseChild maps close_child_stdout and close_child_stderr of an
// add, as the circus.ini translator does: true gives the worker's output
// to the "none" sink, which discards it as circusd's /dev/null does
// (poold still reads it, and keeps its last lines for poolctl logs),
// whatever a stream or a log key given with it says, as in circusd;
// false changes nothing. A set takes them out before (takeCloseChild):
// circusd applies them only to a watcher it creates.
func circusCloseChild(out map[string]any) error {
	for _, stream := range []string{"stdout", "stderr"} {
		key := "close_child_" + stream
		v, ok := out[key]
		if !ok {
			continue
		}
		b, err := circusBool(key, v)
		if err != nil {
			return err
		}
		delete(out, key)
		if b {
			out[stream+"_log"] = configs.LogToNone
		}
	}
	return nil
}

// circusRlimits folds rlimit_NAME options into rlimits, keeping the
// limits base (or an rlimits option beside them) already sets, as
// circusd's set rlimit_nofile changes that one limit only.
func circusRlimits(out map[string]any, base configs.Watcher) error {
	baseLimits := make(map[string]any, len(base.Rlimits))
	for name, v := range base.Rlimits {
		baseLimits[name] = v
	}
	keys, limits, given, err := foldPrefixed(out, "rlimit_", "rlimits", baseLimits, `{"nofile": 4096}`)
	if err != nil || keys == nil {
		return err
	}
	for _, k := range keys {
		name := strings.ToLower(strings.TrimPrefix(k, "rlimit_"))
		if _, dup := given[name]; dup {
			return fmt.Errorf("%s and rlimits.%s both set the same limit; give one of them", k, name)
		}
		limits[name] = out[k]
		delete(out, k)
	}
	out["rlimits"] = limits
	return nil
}

// foldPrefixed finds out's options named prefix+NAME (sorted; nil when
// there are none) that set one entry of the object option key: merged
// starts from the object out gives (given), else from base, the
// watcher's own. example shows the object's shape in the error.
func foldPrefixed(out map[string]any, prefix, key string, base map[string]any, example string) (keys []string, merged, given map[string]any, err error) {
	for k := range out {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil, nil, nil
	}
	slices.Sort(keys)
	if v, ok := out[key]; ok {
		var isMap bool
		if given, isMap = v.(map[string]any); !isMap {
			return nil, nil, nil, fmt.Errorf("%s: must be an object such as %s, got %v", key, example, v)
		}
		return keys, maps.Clone(given), given, nil
	}
	return keys, base, nil, nil
}

// circusShell maps Circus's shell: true as circusd runs it: the words of
// cmd and args, each quoted, as one line for /bin/sh -c.
func circusShell(out map[string]any, base configs.Watcher) error {
	v, ok := out["shell"]
	if !ok {
		return nil
	}
	delete(out, "shell")
	on, err := circusBool("shell", v)
	if err != nil {
		return err
	}
	cmd := base.Cmd
	if c, ok := out["cmd"].(string); ok {
		cmd = c
	}
	args := base.Args
	if _, given := out["args"]; given {
		if args, err = (props{"shell", out}).strings("args"); err != nil {
			return fmt.Errorf("args: must be a string or a list of strings, got %v", out["args"])
		}
	}
	wrapped, _ := shellWrapped(cmd, args)
	switch {
	case on && wrapped, !on && !wrapped:
		return nil
	case !on:
		return fmt.Errorf("shell: the watcher runs %q through /bin/sh -c (as Circus's shell = true); to run a program directly, set cmd and args instead", args[1])
	}
	words, err := configs.SplitCommand(cmd)
	if err != nil {
		return fmt.Errorf("shell: cmd %q: %w", cmd, err)
	}
	out["cmd"], out["args"] = "/bin/sh", []string{"-c", configs.QuoteCommand(append(words, args...))}
	return nil
}

// circusBool reads a boolean as circusd's set takes one: true or false,
// or a string or number holding one.
func circusBool(key string, v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b, nil
		}
	}
	// A number is refused, as circusd refuses it (validate_option: "isn't
	// a valid boolean"), and as poold's own options (autostart, respawn)
	// do: 1e30 or -1 read as true was a surprise.
	return false, fmt.Errorf("%s: must be true or false, got %s", key, jsonWords(v))
}
