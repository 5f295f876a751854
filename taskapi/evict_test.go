package taskapi

import "testing"

// TestEvict: the entries that are over go first; arbitrary ones go only
// while the memory is still at its bound.
func TestEvict(t *testing.T) {
	t.Parallel()
	m := map[int]bool{1: true, 2: false, 3: true, 4: false}
	evict(m, 4, func(over bool) bool { return over })
	_, kept2 := m[2]
	_, kept4 := m[4]
	if len(m) != 2 || !kept2 || !kept4 {
		t.Fatalf("after the sweep: %v, want 2 and 4 kept", m)
	}
	m = map[int]bool{1: false, 2: false, 3: false}
	evict(m, 3, func(over bool) bool { return over })
	if len(m) != 2 {
		t.Fatalf("nothing over, at the bound: %d left, want 2", len(m))
	}
	evict(m, 3, func(over bool) bool { return over })
	if len(m) != 2 {
		t.Fatalf("under the bound: %d left, want 2", len(m))
	}
}
