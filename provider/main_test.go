package provider_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Stream runs each call on a goroutine of its own: none may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
