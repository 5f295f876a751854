package taskapi_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/internal/testutil"
)

// TestMain hides the SDKs' and services' variables from every test (tests
// here run in parallel, which t.Setenv forbids) and checks that no test
// leaves a goroutine behind.
func TestMain(m *testing.M) {
	testutil.HideProviderEnv()
	goleak.VerifyTestMain(m)
}
