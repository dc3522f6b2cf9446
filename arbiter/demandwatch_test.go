package arbiter

import "time"

// warmWatch is a warm elastic watcher of the demand monitor on one TCP
// listener fd, with idle_timeout idle.
func warmWatch(id uint64, fd int, idle time.Duration) demandWatch {
	return demandWatch{id: id, fds: []int{fd}, names: []string{"front"}, tcp: []bool{true}, idle: idle}
}
