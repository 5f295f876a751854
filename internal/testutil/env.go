package testutil

import (
	"os"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// HideProviderEnv empties, for the whole process, the variables the SDKs
// and services read (providertest.EnvVars), as providertest.ClearEnv does
// for one test. A TestMain calls it so that the package's tests need not
// clear them with t.Setenv and can run in parallel.
func HideProviderEnv() {
	for _, k := range providertest.EnvVars() {
		_ = os.Setenv(k, "")
	}
}
