//go:build linux && !amd64

package handover

import "golang.org/x/sys/unix"

// The system calls a thread waiting for connections blocks in, as the
// C libraries make them where the older calls have no number of their
// own (arm64: accept4, pselect6, ppoll).
var (
	acceptCalls = map[int]bool{unix.SYS_ACCEPT4: true}
	// selectCalls take the highest fd they watch plus one first.
	selectCalls = map[int]bool{unix.SYS_PSELECT6: true}
	pollCalls   = map[int]bool{unix.SYS_PPOLL: true}
	// epollCalls take the epoll set's fd first.
	epollCalls = map[int]bool{unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true}
)
