// Command poolctl is poold's command-line client: every control command
// of PROTOCOL.md as a subcommand (`poolctl incr web 2`), plus `events`
// (the live event stream) and `top` (a live process view).
//
// Exit status: 0 ok; 1 poold answered with an error (a waited reload or
// reloadconfig that failed included) or a local failure;
// 2 bad usage; 3 poold unreachable or no answer within --timeout; 130 when
// interrupted while waiting for an answer.
//
// Concurrency: run is called once per process (or per test). Each command
// uses one control connection from one goroutine; the only other goroutine
// is the --waiting progress printer, owned and waited for by the command
// that started it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time (make build: -X main.version=...), as poold's.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
