package zmqguard

import "testing"

// unwritten counts the messages of a buffer that did not go out whole.
func TestUnwritten(t *testing.T) {
	starts := []int{0, 10, 25} // messages of 10, 15 and 5 bytes in 30
	for _, tc := range []struct {
		written, want int
	}{
		{0, 3},
		{9, 3},
		{10, 2},
		{24, 2},
		{25, 1},
		{29, 1},
		{30, 0},
	} {
		if got := unwritten(starts, tc.written, 30); got != tc.want {
			t.Errorf("%d of 30 bytes written: %d messages unwritten, want %d", tc.written, got, tc.want)
		}
	}
	// A buffer that begins with the end of a message counts from its
	// first start; one with no start holds no message of its own.
	if got := unwritten([]int{4}, 2, 8); got != 1 {
		t.Errorf("tail then one message, 2 bytes written: %d, want 1", got)
	}
	if got := unwritten(nil, 0, 8); got != 0 {
		t.Errorf("no message: %d, want 0", got)
	}
}
