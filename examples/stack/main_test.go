package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestStack(t *testing.T) {
	providertest.ClearEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"request 1: served by openrouter", "request 2: served by openrouter", "cached true", "metered: 1 call", "relay 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
