package imagen_test

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/internal/testutil"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

func TestMain(m *testing.M) {
	testutil.HideProviderEnv()
	goleak.VerifyTestMain(m)
}

const testKey = "test-key-0123456789"

var (
	// live is before Imagen's deprecation: every imagen-4.0 ID is active.
	live = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	// retired is after Google shut Imagen down (2026-08-17).
	retired = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
)

// clearEnv hides the provider variables the SDKs read. TestMain cleared
// them for the process; only a test that set one again (with t.Setenv, so
// not in parallel) has them cleared here.
func clearEnv(t testing.TB) {
	t.Helper()
	for _, k := range providertest.EnvVars() {
		if os.Getenv(k) != "" {
			providertest.ClearEnv(t)
			return
		}
	}
}

// setup starts the emulator and a Generator pointed at it; cfg.Now
// defaults to live.
func setup(t testing.TB, opts providertest.Options, cfg imagen.Config) (*providertest.Server, *imagen.Generator) {
	t.Helper()
	clearEnv(t)
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = srv.Client()
	if cfg.Clock == nil {
		cfg.Clock = providertest.NewClock(live)
	}
	g, err := imagen.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, g
}

func decode(t *testing.T, img provider.Image) image.Config {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatalf("image does not decode: %v", err)
	}
	if "image/"+format != img.MIMEType {
		t.Errorf("MIMEType %q but bytes are %s", img.MIMEType, format)
	}
	return cfg
}

// params returns parameters of a recorded :predict body.
func params(t *testing.T, r providertest.Request) map[string]any {
	t.Helper()
	p, ok := r.JSON["parameters"].(map[string]any)
	if !ok {
		t.Fatalf("no parameters in %s", r.Body)
	}
	return p
}
