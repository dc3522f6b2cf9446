package configs

import "testing"

// BenchmarkSocketNames: the loop asks each watcher's socket names in
// every snapshot (status, stats, /metrics) and at each 5 s look at the
// sockets' queues.
func BenchmarkSocketNames(b *testing.B) {
	w := Watcher{Cmd: "/usr/bin/gunicorn", Args: []string{"--workers", "2", "--chdir", "/srv/app", "--bind", "fd://$(pool.sockets.web)", "wsgi:app"},
		Env: []string{"PATH=/srv/app/venv/bin:/usr/bin:/bin", "APP_ENV=production", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"}, Sockets: []string{"web"}}
	all := []Socket{{Name: "web"}, {Name: "api"}}
	b.ReportAllocs()
	for b.Loop() {
		if len(w.SocketNames(all)) != 1 {
			b.Fatal("want web")
		}
	}
}
