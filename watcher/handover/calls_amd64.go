package handover

import "golang.org/x/sys/unix"

// The system calls a thread waiting for connections blocks in.
var (
	acceptCalls = map[int]bool{unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true}
	// selectCalls take the highest fd they watch plus one first.
	selectCalls = map[int]bool{unix.SYS_SELECT: true, unix.SYS_PSELECT6: true}
	pollCalls   = map[int]bool{unix.SYS_POLL: true, unix.SYS_PPOLL: true}
	// epollCalls take the epoll set's fd first.
	epollCalls = map[int]bool{unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true}
)
