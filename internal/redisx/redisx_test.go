package redisx

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestJanitor: a job that meets an outage is retried until it succeeds;
// one that gets an answer, or passes its expiry, is dropped (the third
// job always meets the outage); the goroutine ends when nothing is left.
func TestJanitor(t *testing.T) {
	t.Parallel()
	outage := &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	var down atomic.Bool
	down.Store(true)
	var tries, answered atomic.Int32
	j := &Janitor{MaxInterval: 5 * time.Millisecond}
	j.Add(time.Now().Add(time.Hour), func(context.Context) error {
		tries.Add(1)
		if down.Load() {
			return outage
		}
		return nil
	})
	j.Add(time.Now().Add(time.Hour), func(context.Context) error {
		answered.Add(1)
		return errors.New("ERR wrong type") // an answer: not retried
	})
	j.Add(time.Now().Add(20*time.Millisecond), func(context.Context) error { return outage })
	deadline := time.Now().Add(10 * time.Second)
	for tries.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if j.Pending() == 0 {
		t.Fatal("jobs dropped during the outage")
	}
	down.Store(false)
	for j.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := j.Pending(); n != 0 {
		t.Fatalf("%d jobs left after Redis returned", n)
	}
	if answered.Load() != 1 {
		t.Errorf("a job with an answer ran %d times", answered.Load())
	}
}

// TestJanitorStop: Stop ends the goroutine at once, even with jobs that
// could only expire much later, and Add does nothing after it.
func TestJanitorStop(t *testing.T) {
	t.Parallel()
	outage := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	j := &Janitor{}
	j.Add(time.Now().Add(time.Hour), func(context.Context) error { return outage })
	j.Stop()
	if n := j.Pending(); n != 0 {
		t.Errorf("%d jobs after Stop", n)
	}
	j.Add(time.Now().Add(time.Hour), func(context.Context) error { return outage })
	if n := j.Pending(); n != 0 {
		t.Errorf("Add after Stop queued %d", n)
	}
	j.Stop() // twice is harmless
}
