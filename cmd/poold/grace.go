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

// gracePeriod is the grace period poold's stop must fit in, and where
// that figure comes from: graceEnv when set (seconds, or a duration such
// as "45s"), else Kubernetes' default in a pod (KUBERNETES_SERVICE_HOST,
// which kubelet sets in every container), else none (0).
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
	return 0, "", nil
}
