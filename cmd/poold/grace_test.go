package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// In a pod (KUBERNETES_SERVICE_HOST set) with the defaults, poold's stop
// (graceful_timeout 30s, then 2s for what workers left) takes longer than
// Kubernetes' default terminationGracePeriodSeconds of 30 s, and kubelet
// SIGKILLed poold in its stop (30.11 s, r57b review): poold says so at
// start, with what to do.
func TestKubernetesDefaultGraceIsWarnedOf(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("NOMAD_ALLOC_ID", "")
	t.Setenv(graceEnv, "")
	p := startPoold(t, "[arbiter]\nENDPOINTS\n[watchers.web]\ncmd = \"sleep 1000\"\n")
	line := p.waitLog(`([^\n]*poold's stop may take as long as the grace period it has before SIGKILL, or longer[^\n]*)`, 1)[0][1]
	for _, want := range []string{"up_to=32s", `slowest_in_order="web 30s, then leftovers 2s"`, "grace_period=30s",
		"terminationGracePeriodSeconds", graceEnv, "graceful_timeout"} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning lacks %s:\n%s", want, line)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// Under Nomad (NOMAD_ALLOC_ID set), whose default kill_timeout is 5 s,
// poold's stop of 32 s by default was cut by SIGKILL with no word at
// start; and with POOLD_TERMINATION_GRACE_PERIOD outside Kubernetes the
// warning said to set terminationGracePeriodSeconds (r60 nomad trial).
// The warning now comes under Nomad, and is worded for what poold runs
// under.
func TestGraceWarningNamesTheOrchestrator(t *testing.T) {
	for _, tc := range []struct {
		name, nomad, grace string
		want               []string
	}{
		{"nomad default", "8d3f2c1e-alloc", "", []string{"grace_period=5s", "Nomad's default kill_timeout", "NOMAD_ALLOC_ID", "set the task's kill_timeout above up_to", graceEnv}},
		{"nomad, grace set", "8d3f2c1e-alloc", "20s", []string{"grace_period=20s", "set the task's kill_timeout above up_to"}},
		{"no orchestrator known", "", "10", []string{"grace_period=10s", "TimeoutStopSec", "stopwaitsecs", graceEnv}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			t.Setenv("NOMAD_ALLOC_ID", tc.nomad)
			t.Setenv(graceEnv, tc.grace)
			p := startPoold(t, "[arbiter]\nENDPOINTS\n[watchers.web]\ncmd = \"sleep 1000\"\n")
			line := p.waitLog(`([^\n]*poold's stop may take as long as the grace period it has before SIGKILL, or longer[^\n]*)`, 1)[0][1]
			for _, want := range append(tc.want, "up_to=32s", "graceful_timeout") {
				if !strings.Contains(line, want) {
					t.Errorf("the warning lacks %s:\n%s", want, line)
				}
			}
			if strings.Contains(line, "terminationGracePeriodSeconds") {
				t.Errorf("the warning speaks of Kubernetes outside a pod:\n%s", line)
			}
			p.signal(syscall.SIGTERM)
			if code := p.wait(); code != 0 {
				t.Fatalf("exit code %d", code)
			}
		})
	}
}

// The stop's up_to counts the 2 s poold gives what workers and hooks left
// outside their groups as it exits: with graceful_timeout 5s and a hook's
// daemon that ignored SIGTERM, a stop announced as "up_to=5s" took 7.1 s
// (r57b review).
func TestStopBoundCountsLeftovers(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("NOMAD_ALLOC_ID", "")
	t.Setenv(graceEnv, "")
	p := startPoold(t, "[arbiter]\nENDPOINTS\n[watchers.web]\ncmd = \"sleep 1000\"\ngraceful_timeout = \"1s\"\n")
	p.waitLog(`poold started`, 1)
	p.signal(syscall.SIGTERM)
	line := p.waitLog(`([^\n]*stopping all watchers[^\n]*)`, 1)[0][1]
	for _, want := range []string{"up_to=3s", `slowest_in_order="web 1s, then leftovers 2s"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the stop's line lacks %s:\n%s", want, line)
		}
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestGracePeriodFromTheEnvironment(t *testing.T) {
	for _, c := range []struct {
		name, k8s, env string
		want           time.Duration
		from, err      string
	}{
		{"nothing", "", "", 0, "", ""},
		{"a pod", "10.96.0.1", "", 30 * time.Second, "Kubernetes' default", ""},
		{"a Nomad task", "", "", 5 * time.Second, "Nomad's default", ""},
		{"seconds", "10.96.0.1", "45", 45 * time.Second, graceEnv, ""},
		{"a duration, no pod", "", "1m30s", 90 * time.Second, graceEnv, ""},
		{"garbage", "", "soon", 0, "", graceEnv + `="soon": not a grace period`},
		{"zero", "", "0", 0, "", graceEnv + `="0": not a grace period`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"KUBERNETES_SERVICE_HOST": c.k8s, graceEnv: c.env}
			if c.name == "a Nomad task" {
				env["NOMAD_ALLOC_ID"] = "8d3f2c1e-alloc"
			}
			d, from, err := gracePeriod(func(k string) string { return env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil || d != c.want || !strings.HasPrefix(from, c.from) {
				t.Errorf("gracePeriod = %v, %q, %v; want %v, %q...", d, from, err, c.want, c.from)
			}
		})
	}
}
