package main

import (
	"fmt"
	"strconv"
	"time"
)

// graceEnv says how long poold's orchestrator waits after SIGTERM before
// SIGKILL: the pod's terminationGracePeriodSeconds minus its preStop
// sleep, docker stop -t. Kubernetes does not tell a container its grace
// period, so a pod spec passes it here.
const graceEnv = "POOLD_TERMINATION_GRACE_PERIOD"

// k8sDefaultGrace is Kubernetes' default terminationGracePeriodSeconds.
const k8sDefaultGrace = 30 * time.Second

// nomadDefaultGrace is Nomad's default kill_timeout. Nomad does not tell
// a task its kill_timeout, only that it runs under Nomad (NOMAD_ALLOC_ID).
const nomadDefaultGrace = 5 * time.Second

// gracePeriod is the grace period poold's stop must fit in, and where
// that figure comes from: graceEnv when set (seconds, or a duration such
// as "45s"), else Kubernetes' default in a pod (KUBERNETES_SERVICE_HOST,
// which kubelet sets in every container), else Nomad's default in a Nomad
// task (NOMAD_ALLOC_ID), else none (0).
func gracePeriod(getenv func(string) string) (time.Duration, string, error) {
	if v := getenv(graceEnv); v != "" {
		d, err := time.ParseDuration(v)
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
		if err != nil || d <= 0 {
			return 0, "", fmt.Errorf("environment: %s=%q: not a grace period; give the pod's terminationGracePeriodSeconds minus its preStop sleep, in seconds (45) or as a duration (45s)", graceEnv, v)
		}
		return d, graceEnv, nil
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		return k8sDefaultGrace, "Kubernetes' default terminationGracePeriodSeconds (a pod: KUBERNETES_SERVICE_HOST is set; set " + graceEnv + " to the pod's)", nil
	}
	if getenv("NOMAD_ALLOC_ID") != "" {
		return nomadDefaultGrace, "Nomad's default kill_timeout (a Nomad task: NOMAD_ALLOC_ID is set, and Nomad does not pass the task's kill_timeout; set " + graceEnv + " to it)", nil
	}
	return 0, "", nil
}

// graceAdvice is what to do when poold's stop may outlast the grace
// period, worded for the orchestrator the environment shows.
func graceAdvice(getenv func(string) string) string {
	switch {
	case getenv("KUBERNETES_SERVICE_HOST") != "":
		return "set terminationGracePeriodSeconds above up_to plus any preStop sleep, and " + graceEnv + " to that minus the preStop sleep"
	case getenv("NOMAD_ALLOC_ID") != "":
		return "set the task's kill_timeout above up_to (the client's max_kill_timeout caps it, 30s by default), and " + graceEnv + " to it"
	}
	return "give poold longer than up_to between SIGTERM and SIGKILL (docker stop -t, systemd's TimeoutStopSec, supervisord's stopwaitsecs), and set " + graceEnv + " to that time"
}
