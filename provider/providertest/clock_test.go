package providertest_test

import (
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	c := providertest.NewClock(start)
	if got := <-c.After(3 * time.Second); !got.Equal(start.Add(3 * time.Second)) {
		t.Errorf("After delivered %v", got)
	}
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(start.Add(63 * time.Second)) {
		t.Errorf("Now = %v", got)
	}
	if w := c.Waits(); len(w) != 1 || w[0] != 3*time.Second {
		t.Errorf("Waits = %v", w)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Error("Set")
	}
	var _ provider.Clock = c
	if d := time.Since(provider.SystemClock().Now()); d < 0 || d > time.Minute {
		t.Errorf("provider.SystemClock().Now() is %v away", d)
	}
}
