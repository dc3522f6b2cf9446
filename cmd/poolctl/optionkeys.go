package main

// watcherOptionKeys are the option names of a watcher, sorted, for the
// completion of get and set without poold running. They are configs's
// (configs.WatcherOptionKeys, which TestOptionKeysAreConfigs holds this
// list to); poolctl keeps a copy so it does not link the config loader.
var watcherOptionKeys = []string{
	"args", "autostart", "backoff_max", "backoff_min", "backoff_reset", "chroot", "cmd", "copy_env",
	"cpu_max", "depends_on", "env", "failure_action", "flapping_attempts", "flapping_max_retry", "flapping_retry_in",
	"flapping_window", "gid", "graceful_timeout", "health_address", "health_check", "health_cmd",
	"health_interval", "health_threshold", "health_timeout", "health_url", "hook_timeout", "hooks",
	"idle_timeout", "limit_threshold", "log_compress", "log_json", "log_keep", "log_max_age",
	"log_max_size", "log_ring", "log_rotate", "log_timestamps", "max_age", "max_age_variance",
	"max_cpu", "max_processes", "max_rss", "max_surge", "max_workers", "memory_max", "min_workers",
	"nice", "no_respawn_exit_codes", "numprocesses", "on_demand", "oom_score_adj", "pids_max",
	"priority", "readiness", "ready_address", "ready_delay", "ready_min", "ready_timeout", "ready_url", "required_for_readiness", "respawn",
	"rlimits", "scale_busy_target", "scale_down_cooldown", "scale_down_step", "scale_queue_target",
	"scale_up_cooldown", "scale_up_max_step", "scale_up_step", "send_hup", "singleton", "sockets", "stderr_log",
	"stdout_log", "stop_children", "stop_signal", "uid", "umask", "use_sockets", "warmup_delay",
	"working_dir",
}
