package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

const containerDir = "../../configs/container"

// probe is one httpGet probe of the Kubernetes example.
type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

// envVar is one entry of a container's env.
type envVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type k8sDoc struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []struct {
					Name  string `yaml:"name"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					Env       []envVar `yaml:"env"`
					Lifecycle struct {
						PreStop struct {
							Sleep struct {
								Seconds int `yaml:"seconds"`
							} `yaml:"sleep"`
						} `yaml:"preStop"`
					} `yaml:"lifecycle"`
					StartupProbe   *probe `yaml:"startupProbe"`
					ReadinessProbe *probe `yaml:"readinessProbe"`
					LivenessProbe  *probe `yaml:"livenessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// deployment parses kubernetes.yaml (every document) and returns its
// Deployment.
func deployment(t *testing.T) k8sDoc {
	t.Helper()
	f, err := os.Open(filepath.Join(containerDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var dep *k8sDoc
	for {
		var d k8sDoc
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		if d.Kind == "Deployment" {
			dep = &d
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("kubernetes.yaml: want a Deployment with one container")
	}
	return *dep
}

// The container examples agree with what poold serves: the probes of
// kubernetes.yaml name paths and a port that poold, run on the example
// config, answers 200 on once its workers are ready; the Dockerfile runs
// that config with the static binary, PID 1 in exec form.
func TestContainerExamples(t *testing.T) {
	cfgPath := filepath.Join(containerDir, "poold.toml")
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	_, metricsPort, _ := net.SplitHostPort(cfg.Web.MetricsAddress)
	dep := deployment(t)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != cfg.Sockets[0].Port {
		t.Errorf("kubernetes.yaml: containerPort http %d, but poold.toml's socket %q listens on %d", ports["http"], cfg.Sockets[0].Name, cfg.Sockets[0].Port)
	}
	paths := map[string]string{}
	for name, pr := range map[string]*probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if pr == nil {
			t.Errorf("kubernetes.yaml: no %s", name)
			continue
		}
		port := fmt.Sprint(pr.HTTPGet.Port)
		if n, ok := ports[port]; ok {
			port = strconv.Itoa(n)
		}
		if port != metricsPort {
			t.Errorf("kubernetes.yaml: %s on port %s, but poold.toml serves the probes on metrics_address %s", name, port, cfg.Web.MetricsAddress)
		}
		paths[name] = pr.HTTPGet.Path
	}
	if paths["livenessProbe"] != "/healthz" || paths["readinessProbe"] != "/readyz" || paths["startupProbe"] != "/healthz" {
		t.Errorf("kubernetes.yaml: liveness %s, readiness %s, startup %s; want /healthz, /readyz and /healthz (a startup probe on /readyz restarts a pod that serves with one slot down, again and again)",
			paths["livenessProbe"], paths["readinessProbe"], paths["startupProbe"])
	}
	checkGrace(t, pod.TerminationGracePeriodSeconds, c.Lifecycle.PreStop.Sleep.Seconds, c.Env, cfg)
	checkDockerfile(t, cfg)

	runContainerConfig(t, cfgPath, cfg, paths)
}

// checkGrace: the example's probes and grace period fit poold. Its
// startupProbe was on /readyz, so a pod with one slot that cannot start
// was restarted in a loop, and its grace period of 30 s had no room for
// a preStop sleep, which gunicorn needs, nor for the 2 s poold gives
// leftovers (r57b review).
func checkGrace(t *testing.T, graceSec, preStopSec int, env []envVar, cfg *configs.Config) {
	t.Helper()
	if preStopSec <= 0 {
		t.Errorf("kubernetes.yaml: no preStop sleep: connections that come before the endpoints catch up would be refused, or reset by gunicorn")
	}
	left := time.Duration(graceSec-preStopSec) * time.Second
	for _, w := range cfg.Watchers {
		if stop := w.GracefulTimeout + 2*time.Second; left <= stop {
			t.Errorf("kubernetes.yaml: terminationGracePeriodSeconds %ds minus the preStop sleep %ds leaves %v, not more than watcher %q's graceful_timeout %v plus 2s for leftovers",
				graceSec, preStopSec, left, w.Name, w.GracefulTimeout)
		}
	}
	told := ""
	for _, e := range env {
		if e.Name == graceEnv {
			told = e.Value
		}
	}
	if d, _, err := gracePeriod(func(k string) string {
		if k == graceEnv {
			return told
		}
		return ""
	}); err != nil || d != left {
		t.Errorf("kubernetes.yaml: %s is %q, want the grace period minus the preStop sleep, %v (%v)", graceEnv, told, left, err)
	}
}

// runContainerConfig runs the example config (its addresses moved to free
// loopback ports, the worker to a built exampleworker) and asks every
// probe path.
func runContainerConfig(t *testing.T, cfgPath string, cfg *configs.Config, paths map[string]string) {
	t.Helper()
	run, probes, sock := exampleOnLoopback(t, cfgPath, cfg, exampleWorker(t))
	p := startBinary(t, run, "XDG_RUNTIME_DIR="+t.TempDir())
	for name, path := range paths {
		proctest.Eventually(t, fmt.Sprintf("%s GET %s answers 200", name, path), func() bool {
			return statusOf("http://"+probes+path) == http.StatusOK
		})
	}
	if body, err := get("http://" + sock + "/"); err != nil || !strings.Contains(body, "hello from pid") {
		t.Errorf("the example worker on the shared socket: %q, %v", body, err)
	}
	p.cmd.Process.Signal(os.Interrupt)
	if code := p.wait(t); code != 0 {
		t.Errorf("poold exited %d", code)
	}
}

// exampleOnLoopback is the example config's text with its addresses moved
// to free loopback ports (probes, sock) and its worker to worker.
func exampleOnLoopback(t *testing.T, cfgPath string, cfg *configs.Config, worker string) (text, probes, sock string) {
	t.Helper()
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	probes, sock = freeAddr(t), freeAddr(t)
	_, sockPort, _ := net.SplitHostPort(sock)
	text = strings.NewReplacer(
		strconv.Quote(cfg.Web.MetricsAddress), strconv.Quote(probes),
		`host = "0.0.0.0"`, `host = "127.0.0.1"`,
		fmt.Sprintf("port = %d", cfg.Sockets[0].Port), "port = "+sockPort,
		strconv.Quote(cfg.Watchers[0].Cmd), strconv.Quote(worker),
	).Replace(string(b))
	return text, probes, sock
}

func statusOf(url string) int {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkDockerfile: static build, the example config copied where the
// exec-form ENTRYPOINT takes it, an empty final image.
func checkDockerfile(t *testing.T, cfg *configs.Config) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(containerDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"ENV CGO_ENABLED=0", "FROM scratch", "./cmd/poold", "cp configs/container/poold.toml /rootfs/etc/poold/poold.toml"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
	m := regexp.MustCompile(`(?m)^ENTRYPOINT (.*)$`).FindStringSubmatch(df)
	var argv []string
	if m == nil || json.Unmarshal([]byte(m[1]), &argv) != nil {
		t.Fatalf("Dockerfile: ENTRYPOINT must be in exec form (a JSON list), so poold is PID 1 without a shell; got %q", m)
	}
	if len(argv) != 2 || argv[0] != "/usr/local/bin/poold" || argv[1] != "/etc/poold/poold.toml" {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want poold on /etc/poold/poold.toml", argv)
	}
	if !strings.Contains(df, "EXPOSE 8000 9100") {
		t.Errorf("Dockerfile: EXPOSE should name the socket port %d and the probe port of %s", cfg.Sockets[0].Port, cfg.Web.MetricsAddress)
	}
}
