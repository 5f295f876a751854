package pricing_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A child process of a crash test: run only the helper, no leak check.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
