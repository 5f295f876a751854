package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestRelaysOffline(t *testing.T) {
	providertest.ClearEnv(t)
	t.Setenv("OPENROUTER_API_KEY", "")
	t.Setenv("LAOZHANG_API_KEY", "")
	var out bytes.Buffer
	if err := run(context.Background(), &out, options{prompt: "a lighthouse"}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

func TestFailedRoutesFailTheRun(t *testing.T) {
	providertest.ClearEnv(t)
	t.Setenv("OPENROUTER_API_KEY", "")
	t.Setenv("LAOZHANG_API_KEY", "")
	var out bytes.Buffer
	err := run(context.Background(), &out, options{prompt: "a lighthouse", emulators: func(or, _ *providertest.Server) {
		or.InjectRandom(providertest.EndpointChatCompletions, 1, providertest.Unavailable())
		or.InjectRandom(providertest.EndpointOpenRouterImages, 1, providertest.Unavailable())
	}})
	if err == nil || !strings.Contains(err.Error(), "2 of 3 routes failed") {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
}
