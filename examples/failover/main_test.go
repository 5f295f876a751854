package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFailoverOffline(t *testing.T) {
	providertest.ClearEnv(t)
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	if strings.Count(got, "served by gemini-secondary") != 3 || !strings.Contains(got, "503 UNAVAILABLE") ||
		!strings.Contains(got, "primary breaker: open") {
		t.Errorf("unexpected output:\n%s", got)
	}
}
