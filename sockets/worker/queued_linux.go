package worker

import (
	"syscall"
	"unsafe"
)

// queued returns how many bytes wait in socket fd's receive queue.
func queued(fd uintptr) (int, error) {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
