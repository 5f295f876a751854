package taskapi_test

import (
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

const testKey = "test-key-taskapi-0123456789"

func start() time.Time { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }

// emulator starts an emulator on a fake clock; t.Cleanup closes it.
func emulator(t testing.TB, opts providertest.Options) (*providertest.Server, *providertest.Clock) {
	t.Helper()
	clk := providertest.NewClock(start())
	if opts.Clock == nil {
		opts.Clock = clk
	}
	opts.APIKey = testKey
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv, clk
}

// config points a preset at srv.
func config(srv *providertest.Server, cfg taskapi.Config, clk *providertest.Clock) taskapi.Config {
	switch cfg.Service {
	case taskapi.ServiceKie:
		cfg.BaseURL, cfg.UploadURL = srv.KieURL(), srv.KieURL()
	case taskapi.ServiceReplicate:
		cfg.BaseURL = srv.ReplicateURL()
	case taskapi.ServiceAPIMart:
		cfg.BaseURL = srv.APIMartURL()
	}
	cfg.APIKey = testKey
	cfg.HTTPClient = srv.Client()
	cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
	if clk != nil {
		cfg.Clock = clk
	}
	return cfg
}

func generator(t testing.TB, srv *providertest.Server, cfg taskapi.Config, clk *providertest.Clock) *taskapi.Generator {
	t.Helper()
	g, err := taskapi.New(config(srv, cfg, clk))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// presets are the three services' presets, by name.
func presets() map[string]taskapi.Config {
	return map[string]taskapi.Config{"kie": taskapi.Kie(""), "replicate": taskapi.Replicate(""), "apimart": taskapi.APIMart("")}
}
