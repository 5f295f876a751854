package providertest_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// .ci/run must hide from the whole test run every variable ClearEnv hides
// from one test, or a test that forgets ClearEnv would see a developer's
// key, endpoint or API version in CI.
func TestCIUnsetsEnvVars(t *testing.T) {
	t.Parallel()
	script, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^unset ((?:[^\n]*\\\n)*[^\n]*)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal(".ci/run has no unset line")
	}
	unset := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))
	for _, name := range providertest.EnvVars() {
		if !slices.Contains(unset, name) {
			t.Errorf(".ci/run does not unset %s", name)
		}
	}
}

func TestClearEnvHidesTheAPIVersion(t *testing.T) {
	t.Setenv("GOOGLE_GENAI_API_VERSION", "v1")
	providertest.ClearEnv(t)
	if v := os.Getenv("GOOGLE_GENAI_API_VERSION"); v != "" {
		t.Errorf("GOOGLE_GENAI_API_VERSION = %q after ClearEnv", v)
	}
}
