package imagen_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestZeroQuotaShapes: both real bodies of a zero quota (see
// internal/googleerr/testdata) give CodeFreeTierNoQuota, with no
// RetryAfter although one carries RetryInfo 10s.
func TestZeroQuotaShapes(t *testing.T) {
	for _, file := range []string{"limit0_message.json", "quotavalue0.json"} {
		t.Run(file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("..", "internal", "googleerr", "testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			srv, g := setup(t, providertest.Options{}, imagen.Config{})
			srv.Inject(providertest.EndpointPredict, providertest.Status(429, string(body), nil))
			_, err = g.Generate(context.Background(), &provider.Request{Prompt: "p"})
			checkErr(t, err, provider.KindQuotaExhausted, 429, imagen.CodeFreeTierNoQuota, 0, "no free-tier quota (limit: 0); waiting does not help: enable billing")
		})
	}
}
