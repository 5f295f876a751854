package secret_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/imagen"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// Every exported type that holds a key prints without it under every
// verb, alone, through a pointer and nested in other values.
func TestNoVerbPrintsAKey(t *testing.T) {
	providertest.ClearEnv(t)
	const key = "sk-format-test-AIzaSy0123456789"
	ctx := context.Background()
	srv := providertest.NewServer(providertest.Options{APIKey: key})
	defer srv.Close()

	gcfg := gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()}
	gg, err := gemini.New(ctx, gcfg)
	if err != nil {
		t.Fatal(err)
	}
	icfg := imagen.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client(), Migrator: gg}
	ig, err := imagen.New(ctx, icfg)
	if err != nil {
		t.Fatal(err)
	}
	ivcfg := imagen.Config{APIKey: key, Backend: imagen.BackendVertex, Project: "p", Location: "l", BaseURL: srv.URL(), HTTPClient: srv.Client()}
	ivg, err := imagen.New(ctx, ivcfg)
	if err != nil {
		t.Fatal(err)
	}
	ocfg := openaicompat.OpenRouter(key)
	ocfg.ExtraHeaders = http.Header{"X-Title": {"app"}, "X-Api-Key": {key}}
	ocfg.BaseURL, ocfg.HTTPClient = srv.URL()+"/v1", srv.Client()
	og, err := openaicompat.New(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{
		"gemini.Config":          gcfg,
		"*gemini.Config":         &gcfg,
		"*gemini.Generator":      gg,
		"*gemini.Session":        gg.NewSession(gemini.SessionOptions{}),
		"imagen.Config":          icfg,
		"*imagen.Config":         &icfg,
		"*imagen.Generator":      ig,
		"*imagen.Generator (v)":  ivg,
		"openaicompat.Config":    ocfg,
		"*openaicompat.Config":   &ocfg,
		"*openaicompat.Generat.": og,
		"providertest.Options":   providertest.Options{APIKey: key},
		"*providertest.Options":  &providertest.Options{APIKey: key},
		"*providertest.Server":   srv,
		"nested struct": struct {
			G gemini.Config
			O *openaicompat.Config
		}{gcfg, &ocfg},
		"slice": []any{gcfg, icfg, ocfg, gg, ig, og},
		"map":   map[string]any{"g": gg, "i": icfg},
	}
	forbidden := []string{key, key[:12], key[len(key)-12:], hex.EncodeToString([]byte(key))[:24], strings.ToUpper(hex.EncodeToString([]byte(key))[:24])}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10.3v"} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("%s under %s prints %q: %s", name, verb, f, out)
				}
			}
		}
	}
	// The redacted configuration is still useful to read.
	if s := fmt.Sprintf("%+v", ocfg); !strings.Contains(s, "X-Title:[app]") || !strings.Contains(s, "APIKey:[REDACTED]") {
		t.Errorf("%%+v = %s", s)
	}
	if s := fmt.Sprintf("%#v", gcfg); !strings.HasPrefix(s, "gemini.Config{APIKey:\"[REDACTED]\"") {
		t.Errorf("%%#v = %s", s)
	}
}
