package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// emptyDirMount is one volumeMount of the Kubernetes example backed by an
// emptyDir, with the mode Kubernetes gives it: 0777, 1777 in memory
// (tmpfs), and setgid when the pod has an fsGroup.
type emptyDirMount struct {
	path   string
	memory bool
}

// exampleEmptyDirs reads the emptyDir volumes of kubernetes.yaml's pod
// and where its container mounts them.
func exampleEmptyDirs(t *testing.T) []emptyDirMount {
	t.Helper()
	f, err := os.Open(filepath.Join(containerDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type volumes struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name     string `yaml:"name"`
						EmptyDir *struct {
							Medium string `yaml:"medium"`
						} `yaml:"emptyDir"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	dec := yaml.NewDecoder(f)
	var out []emptyDirMount
	for {
		var d volumes
		if err := dec.Decode(&d); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		if d.Kind != "Deployment" {
			continue
		}
		pod := d.Spec.Template.Spec
		for _, m := range pod.Containers[0].VolumeMounts {
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.EmptyDir != nil {
					out = append(out, emptyDirMount{path: m.MountPath, memory: v.EmptyDir.Medium == "Memory"})
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("kubernetes.yaml: no emptyDir volume mounted (readOnlyRootFilesystem needs one for poold's sockets and one at /tmp)")
	}
	return out
}

// podUser is who the pod runs poold as: root, or a runAsUser with an
// fsGroup (its volumes then belong to that group, setgid).
type podUser struct {
	uid, fsGroup int // uid 0: root, no fsGroup
}

// volumeScript mounts, in a mount namespace of poold's own, what a pod
// with readOnlyRootFilesystem gives its container: each emptyDir with
// Kubernetes' mode and group, the rest of / read-only. The test's files
// (poold, the worker, the config) are bound at /run/.t first: /tmp,
// where they are, is one of the volumes.
func volumeScript(mounts []emptyDirMount, u podUser, binDir, cfgDir string) string {
	s := []string{
		"mount -t tmpfs -o mode=0755 tmpfs /run",
		"mkdir -p /run/.t/bin /run/.t/cfg",
		"mount --bind " + binDir + " /run/.t/bin",
		"mount --bind " + cfgDir + " /run/.t/cfg",
	}
	for _, m := range mounts {
		mode := 0o777
		if m.memory {
			mode |= 0o1000 // a tmpfs: sticky, as /tmp
		}
		opts := ""
		if u.fsGroup != 0 {
			mode |= 0o2000
			opts = fmt.Sprintf(",gid=%d", u.fsGroup)
		}
		s = append(s, "mkdir -p "+m.path, fmt.Sprintf("mount -t tmpfs -o mode=%04o%s tmpfs %s", mode, opts, m.path))
	}
	s = append(s, "mount -o remount,bind,ro /")
	return strings.Join(s, " && ")
}

// nsCommand runs script in a new mount namespace, then execs poold
// (/run/.t/bin/poold, as u) with args.
func nsCommand(t *testing.T, script string, u podUser, args ...string) *exec.Cmd {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("no unshare (util-linux): %v", err)
	}
	argv := []string{"/run/.t/bin/poold"}
	if u.uid != 0 {
		argv = append([]string{"setpriv", fmt.Sprintf("--reuid=%d", u.uid), fmt.Sprintf("--regid=%d", u.uid), fmt.Sprintf("--groups=%d", u.fsGroup)}, argv...)
	}
	argv = append(argv, args...)
	return exec.Command(unshare, append([]string{"--mount", "--propagation", "private", "sh", "-ec", script + ` && exec "$@"`, "sh"}, argv...)...)
}

// stageExample writes text as poold.toml in a directory poold's user may
// read, and returns the directory.
func stageExample(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "poold.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func needRootForMounts(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounts the pod's volumes: needs root") // a privilege, not a missing program
	}
}

// The Kubernetes example runs as shipped, with its emptyDir volumes as
// Kubernetes makes them and the root read-only: as root (poold makes its
// own 0777/1777 /run/poold private and says so) and as a non-root user
// with an fsGroup (its runtime dir goes in /tmp/poold-UID on the tmp
// volume). poold refused the emptyDir at /run/poold and exited 1 at each
// start: the shipped pod crash-looped (r66 pid1 H1).
func TestContainerExampleVolumes(t *testing.T) {
	needRootForMounts(t)
	cfgPath := filepath.Join(containerDir, "poold.toml")
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	mounts := exampleEmptyDirs(t)
	binDir := filepath.Dir(pooldBinary(t))
	for _, u := range []podUser{{0, 0}, {65534, 65534}} {
		t.Run(fmt.Sprintf("uid%d", u.uid), func(t *testing.T) {
			text, probes, _ := exampleOnLoopback(t, cfgPath, cfg, "/run/.t/bin/exampleworker")
			dir := stageExample(t, text)
			cmd := nsCommand(t, volumeScript(mounts, u, binDir, dir), u, "/run/.t/cfg/poold.toml")
			p := startCmd(t, cmd, filepath.Join(dir, "poold.toml"), nil, "XDG_RUNTIME_DIR=", "TMPDIR=")
			for _, path := range []string{"/healthz", "/readyz"} {
				proctest.Eventually(t, "GET "+path+" answers 200", func() bool {
					return statusOf("http://"+probes+path) == http.StatusOK
				})
			}
			if u.uid == 0 && !strings.Contains(p.log.String(), "made the runtime directory private") {
				t.Errorf("poold made the emptyDir at /run/poold private without saying so:\n%s", p.log.String())
			}
			p.cmd.Process.Signal(os.Interrupt)
			if code := p.wait(t); code != 0 {
				t.Errorf("poold exited %d", code)
			}
		})
	}
}

// A read-only runtime directory (an image's /run/poold, no volume) and a
// read-only TMPDIR for readiness "notify" are refused by --check and at
// start with exit status 78 and a way out that needs no shell; poold
// exited 1 with a bare "read-only file system" or "notify sockets: mkdir
// ...", and --check said ok (r66 pid1 M1, L1).
func TestReadOnlyPlacesRefused(t *testing.T) {
	needRootForMounts(t)
	binDir := filepath.Dir(pooldBinary(t))
	const notifyCfg = `
[watchers.n]
cmd = "/run/.t/bin/exampleworker"
readiness = "notify"
`
	for _, c := range []struct {
		name, config string
		mounts       string
		want         []string
	}{
		{"runtime dir", "", "mkdir -p /run/poold && mount -t tmpfs -o ro,mode=0700 tmpfs /run/poold",
			[]string{"runtime directory /run/poold", "read-only file system", "an emptyDir at /run", "XDG_RUNTIME_DIR"}},
		{"notify tmpdir", notifyCfg, "mount -t tmpfs -o ro,mode=1777 tmpfs /tmp",
			[]string{`watchers.n.readiness`, "notify", "TMPDIR (now /tmp)", "an emptyDir at /tmp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := stageExample(t, c.config)
			script := volumeScript(nil, podUser{}, binDir, dir) + " && " + c.mounts
			for _, args := range [][]string{{"--check", "/run/.t/cfg/poold.toml"}, {"/run/.t/cfg/poold.toml"}} {
				p := startCmd(t, nsCommand(t, script, podUser{}, args...), filepath.Join(dir, "poold.toml"), nil, "XDG_RUNTIME_DIR=", "TMPDIR=")
				if code := p.wait(t); code != exitConfig {
					t.Errorf("poold %s exited %d, want %d (EX_CONFIG: no retry mends it):\n%s", strings.Join(args, " "), code, exitConfig, p.log.String())
				}
				for _, w := range c.want {
					if !strings.Contains(p.log.String(), w) {
						t.Errorf("poold %s: no %q in:\n%s", strings.Join(args, " "), w, p.log.String())
					}
				}
			}
		})
	}
}
