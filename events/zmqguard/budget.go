package zmqguard

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// Budget is one bound on the connections that several listeners of a
// process hold together: poold's control endpoint, its event and stats
// streams, its console and metrics listeners. Each listener's own bound
// (MaxConns) is a share of the open-file limit; without a budget over
// them all, their shares add up to more than the limit, and a crowd
// spread over them leaves no fd for a worker's pipes.
//
// A listener joins with a shed function. After counting a newcomer it
// calls Settle: while the members hold more than the budget, the member
// holding the most is asked to close one of its connections (its own
// choice of which, never the newcomer unless it has no other). Only when
// no member can give one up does Settle report false, and the caller
// closes its newcomer.
//
// Concurrency: safe for concurrent use. Add and Remove may run under a
// member's own lock (the budget's mutex is a leaf); Settle must run with
// no member's lock held, since it calls shed.
type Budget struct {
	max int

	settle sync.Mutex // one Settle at a time, so one excess sheds one conn

	mu      sync.Mutex
	n       int
	members []*BudgetMember
}

// BudgetMember is one listener's account in a Budget.
type BudgetMember struct {
	b    *Budget
	name string
	shed func() bool
	n    int // under b.mu
}

// NewBudget returns a budget of max connections in all (max <= 0: the
// default, DefaultBudget's size).
func NewBudget(max int) *Budget {
	if max <= 0 {
		max = budgetCap()
	}
	return &Budget{max: max}
}

// SharedBudget is the budget every Guard's server connections count
// against unless Options.Budget names another: one per process.
var SharedBudget = NewBudget(0)

// budgetCap is half of the process's open-file limit (RLIMIT_NOFILE), at
// least 32: the other half is left to the workers (their output pipes,
// pidfds and cgroup fds, one being started) and poold's own files.
func budgetCap() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 512
	}
	return int(max(rl.Cur/2, 32))
}

// Max is the budget's size.
func (b *Budget) Max() int { return b.max }

// Join adds a member named name ("control", "console"); shed closes one
// of its connections to make room and reports whether it could. It is
// called with no lock of the budget held.
func (b *Budget) Join(name string, shed func() bool) *BudgetMember {
	m := &BudgetMember{b: b, name: name, shed: shed}
	b.mu.Lock()
	b.members = append(b.members, m)
	b.mu.Unlock()
	return m
}

// Leave removes m and what it holds from the budget.
func (m *BudgetMember) Leave() {
	b := m.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range b.members {
		if x == m {
			b.n -= m.n
			b.members = append(b.members[:i], b.members[i+1:]...)
			return
		}
	}
}

// Add counts one connection of m's.
func (m *BudgetMember) Add() {
	m.b.mu.Lock()
	m.n++
	m.b.n++
	m.b.mu.Unlock()
}

// Remove uncounts one connection of m's.
func (m *BudgetMember) Remove() {
	m.b.mu.Lock()
	m.n--
	m.b.n--
	m.b.mu.Unlock()
}

// Settle brings the members back within the budget, each time asking the
// member that holds the most (that can) to shed a connection. It reports
// false when they hold more and none can shed: the caller then closes the
// connection it just counted.
func (b *Budget) Settle() bool {
	b.settle.Lock()
	defer b.settle.Unlock()
	tried := map[*BudgetMember]bool{}
	for {
		b.mu.Lock()
		if b.n <= b.max {
			b.mu.Unlock()
			return true
		}
		var hog *BudgetMember
		for _, m := range b.members {
			if !tried[m] && m.n > 0 && (hog == nil || m.n > hog.n) {
				hog = m
			}
		}
		b.mu.Unlock()
		if hog == nil {
			return false
		}
		if !hog.shed() {
			tried[hog] = true
		}
	}
}

// Held is how many connections the members hold in all, and who holds
// them, the most first ("events 300, control 64"), for an error that
// says where poold's fds went.
func (b *Budget) Held() (int, string) {
	b.mu.Lock()
	type row struct {
		name string
		n    int
	}
	rows := make([]row, 0, len(b.members))
	for _, m := range b.members {
		if m.n > 0 {
			rows = append(rows, row{m.name, m.n})
		}
	}
	n := b.n
	b.mu.Unlock()
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].n > rows[j].n })
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s %d", r.name, r.n)
	}
	return n, strings.Join(parts, ", ")
}

// Settle is m's Budget's Settle.
func (m *BudgetMember) Settle() bool { return m.b.Settle() }
