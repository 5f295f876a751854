package imagen

import (
	"errors"
	"testing"
)

func TestOnceOKRetriesFailures(t *testing.T) {
	t.Parallel()
	calls := 0
	get := onceOK(func() (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("metadata server did not answer")
		}
		return 42, nil
	})
	if _, err := get(); err == nil {
		t.Fatal("first call should fail")
	}
	for range 3 {
		if v, err := get(); err != nil || v != 42 {
			t.Fatalf("got %v, %v", v, err)
		}
	}
	if calls != 2 {
		t.Errorf("build called %d times, want 2", calls)
	}
}
