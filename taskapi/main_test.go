package taskapi_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestMain hides the SDKs' and services' variables from every test (tests
// here run in parallel, which t.Setenv forbids) and checks that no test
// leaves a goroutine behind.
func TestMain(m *testing.M) {
	for _, k := range providertest.EnvVars() {
		_ = os.Unsetenv(k)
	}
	goleak.VerifyTestMain(m)
}
