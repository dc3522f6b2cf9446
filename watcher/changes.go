package watcher

import (
	"os"
	"reflect"

	"github.com/poold/poold/configs"
)

// Effect is what a change of one configs.Watcher field does to a running
// watcher.
type Effect int

// Effects of a field change.
const (
	// Live: applies to the next decision (next stop, next death, next
	// spawn's readiness wait); running workers are left alone.
	Live Effect = iota + 1
	// Restart: workers start differently, so every worker is replaced
	// through the rolling path.
	Restart
	// Scale: the number of workers changes; the others are left alone.
	Scale
	// Health: the health check is re-armed with the new settings.
	Health
)

// fieldEffects classifies every field of configs.Watcher. A test fails
// when a field is added to configs.Watcher without being classified here.
var fieldEffects = map[string]Effect{
	"Name": Live, "Cmd": Restart, "Args": Restart, "NumProcesses": Scale, "MaxProcesses": Live, "Singleton": Live,
	"Env": Restart, "CopyEnv": Restart, "WorkingDir": Restart, "UID": Restart,
	"GID": Restart, "Umask": Restart, "Rlimits": Restart, "StopSignal": Live, "StopChildren": Live,
	"GracefulTimeout": Live, "WarmupDelay": Live, "Priority": Live,
	"Autostart": Live, "ReadinessOptional": Live, "ReadyMin": Live, "Respawn": Live, "FailureAction": Live, "NoRespawnExitCodes": Live, "Sockets": Restart, "UseSockets": Restart,
	"BackoffMin": Live, "BackoffMax": Live, "BackoffReset": Live,
	// A new readiness method or target only means something to a worker
	// started for it.
	"Readiness": Restart, "ReadyDelay": Live, "ReadyTimeout": Live,
	"ReadyAddress": Restart, "ReadyURL": Restart,
	"MaxSurge": Live, "SendHUP": Live, "MaxAge": Live, "MaxAgeVariance": Live,
	"FlappingAttempts": Live, "FlappingWindow": Live, "FlappingRetryIn": Live,
	"FlappingMaxRetry": Live,
	"HealthCheck":      Health, "HealthURL": Health, "HealthAddress": Health,
	"HealthCmd": Health, "HealthInterval": Health, "HealthTimeout": Health,
	"HealthThreshold": Health,
	"MaxRSS":          Live, "MaxCPU": Live, "LimitThreshold": Live, "DependsOn": Live,
	// Bounds and policy of an elastic pool: the size in force is clamped
	// to the new bounds, the next reading decides with the new policy.
	"Scaling": Scale,
	// Hooks run at the next lifecycle point; workers are left alone.
	"Hooks": Live, "HookTimeout": Live,
	"Nice": Restart, "OOMScoreAdj": Restart, "Chroot": Restart,
	// A worker's cgroup gets its limits when it is made.
	"MemoryMax": Restart, "PidsMax": Restart, "CPUMax": Restart,
	// A worker's pipes are bound to its sinks when it starts, so new log
	// settings take effect through the rolling path.
	"Logs": Restart,
}

// Changes is the outcome of comparing two specs of one watcher.
type Changes struct {
	Fields  []string // names of the fields that differ, in declaration order
	Restart bool     // workers must be replaced
	Scale   bool
	Health  bool
}

// Any reports whether anything differs.
func (c Changes) Any() bool { return len(c.Fields) > 0 }

// Compare tells what differs between a and b and what that means for
// running workers. A field missing from the classification counts as
// Restart, the safe choice.
func Compare(a, b configs.Watcher) Changes {
	var c Changes
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		if reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			continue
		}
		name := t.Field(i).Name
		c.Fields = append(c.Fields, name)
		switch e, ok := fieldEffects[name]; {
		case !ok || e == Restart:
			c.Restart = true
		case e == Scale:
			c.Scale = true
		case e == Health:
			c.Health = true
		}
	}
	return c
}

// SameFiles reports whether two socket handoffs pass the very same files.
func SameFiles(a, b []*os.File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Merge applies to running the keys a config file changed from was to
// now, and keeps every other key as it runs: a run-time incr or set of
// a key the file left alone survives a reload, as in circusd, while a key
// the file changed takes the file's new value. It goes key by key, not
// field by field: the elastic keys (Scaling) and the worker log keys
// (Logs) are one field each, and each hook and each rlimit is a key of
// its own (set hooks.after_spawn, rlimit_nofile), so a file that changes
// log_keep keeps a run-time log_ring, and one that adds a hook keeps the
// hook set at run time.
func Merge(running, was, now configs.Watcher) configs.Watcher {
	out := running.Clone()
	mergeKeys(reflect.ValueOf(&out).Elem(), reflect.ValueOf(was), reflect.ValueOf(now.Clone()))
	return out
}

// mergeByKey are the fields of configs.Watcher that hold several config
// keys: structs merged field by field, maps entry by entry.
var mergeByKey = map[string]bool{"Scaling": true, "Logs": true, "Hooks": true, "Rlimits": true}

// mergeKeys sets each field of out (a struct) whose value differs between
// was and now to now's, going into the fields of mergeByKey.
func mergeKeys(out, was, now reflect.Value) {
	for i := 0; i < out.NumField(); i++ {
		o, w, n := out.Field(i), was.Field(i), now.Field(i)
		if reflect.DeepEqual(w.Interface(), n.Interface()) {
			continue
		}
		switch name := out.Type().Field(i).Name; {
		case mergeByKey[name] && o.Kind() == reflect.Struct:
			mergeKeys(o, w, n)
		case mergeByKey[name] && o.Kind() == reflect.Map:
			mergeEntries(o, w, n)
		default:
			o.Set(n)
		}
	}
}

// mergeEntries sets, removes or adds in out (a map) each entry that
// differs between was and now.
func mergeEntries(out, was, now reflect.Value) {
	if out.IsNil() {
		out.Set(reflect.MakeMap(out.Type()))
	}
	for _, k := range was.MapKeys() {
		if !now.MapIndex(k).IsValid() {
			out.SetMapIndex(k, reflect.Value{})
		}
	}
	for _, k := range now.MapKeys() {
		nv, wv := now.MapIndex(k), was.MapIndex(k)
		if !wv.IsValid() || !reflect.DeepEqual(wv.Interface(), nv.Interface()) {
			out.SetMapIndex(k, nv)
		}
	}
	if out.Len() == 0 && now.Len() == 0 {
		out.Set(now) // no entries: as the file gives them (nil or empty)
	}
}
