// Package emutest builds the real adapters, pointed at the providertest
// emulator, for tests that price or budget whole calls.
package emutest

import (
	"context"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// Key is the API key the emulator and the adapters share.
const Key = "test-key-emulator"

// Now is the instant the catalog's lifecycles are read at, so that a
// model's retirement date passing does not change the tests.
func Now() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }

// Clock returns a fake clock reading Now.
func Clock() provider.Clock { return providertest.NewClock(Now()) }

// Server starts an emulator with Key and Now; t.Cleanup closes it.
func Server(t testing.TB, opts providertest.Options) *providertest.Server {
	t.Helper()
	opts.APIKey, opts.Clock = Key, Clock()
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// Generator returns the real adapter for m's protocol, pointed at srv:
// gemini for generateContent models, openaicompat (Images API) for OpenAI
// models. Imagen models are all retired (2026-08-17) and cannot be called.
func Generator(t testing.TB, srv *providertest.Server, m *catalog.Model) provider.Generator {
	t.Helper()
	switch m.Protocol {
	case catalog.ProtocolGemini:
		return testutil.Must(gemini.New(context.Background(), gemini.Config{APIKey: Key, BaseURL: srv.URL(),
			HTTPClient: srv.Client(), Model: m.ID, Clock: Clock()}))
	case catalog.ProtocolOpenAI:
		return testutil.Must(openaicompat.New(openaicompat.Config{APIKey: Key, BaseURL: srv.URL() + "/v1",
			HTTPClient: srv.Client(), Model: m.ID, Clock: Clock()}))
	}
	t.Fatalf("%s: no adapter for protocol %s", m.ID, m.Protocol)
	return nil
}
