package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// onEmulator starts the emulator with opts and returns the real adapter
// for api ("gemini": streamGenerateContent; "openai": the Images API with
// partial_images) on it, and the endpoint its streams use.
func onEmulator(t testing.TB, api string, opts providertest.Options) (provider.Generator, *providertest.Server, providertest.Endpoint) {
	t.Helper()
	const key = "emulator-key"
	opts.APIKey = key
	srv := providertest.NewServer(opts)
	t.Cleanup(srv.Close)
	switch api {
	case "gemini":
		g, err := gemini.New(t.Context(), gemini.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		return g, srv, providertest.EndpointStreamGenerateContent
	case "openai":
		cfg := openaicompat.OpenAI(key)
		cfg.BaseURL, cfg.HTTPClient = srv.URL()+"/v1", srv.Client()
		g, err := openaicompat.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return g, srv, providertest.EndpointImagesGenerations
	}
	t.Fatalf("no adapter %q", api)
	return nil, nil, ""
}

// callEnds wraps g so that each call's end (its context's error) is sent
// on the returned channel.
func callEnds(g provider.Generator) (provider.Generator, <-chan error) {
	ended := make(chan error, 4)
	return provider.Wrap(g, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		defer func() { ended <- ctx.Err() }()
		return g.Generate(ctx, req)
	}), ended
}

// TestEmulatorPreviewsBeforeFinal: the real adapters stream the
// emulator's drafts, 20 ms apart, through the stack to the browser's
// EventSource ahead of the final image.
func TestEmulatorPreviewsBeforeFinal(t *testing.T) {
	for _, tc := range []struct {
		api    string
		events string
	}{
		{"gemini", "preview preview final"},         // two thought images
		{"openai", "preview preview preview final"}, // partial_images 3
	} {
		t.Run(tc.api, func(t *testing.T) {
			t.Parallel()
			g, emu, _ := onEmulator(t, tc.api, providertest.Options{StreamInterval: 20 * time.Millisecond})
			srv := newTestServer(t, g, config{Previews: 3})
			_, events := open(t, t.Context(), srv, "a lighthouse on the emulator")
			var got []string
			for ev := range events {
				got = append(got, ev.name)
				switch ev.name {
				case "preview":
					decodeDataURL(t, unmarshal[gotPreview](t, ev).Images[0].DataURL)
				case "final":
					f := unmarshal[gotFinal](t, ev)
					if len(f.Images) != 1 || f.Provider == "" || f.Cached {
						t.Errorf("final %+v", f)
					}
					decodeDataURL(t, f.Images[0].DataURL)
				default:
					t.Errorf("%s: %.300s", ev.name, ev.data)
				}
			}
			if strings.Join(got, " ") != tc.events {
				t.Errorf("events %q, want %q", got, tc.events)
			}
			if st := emu.Stats(); st.Streams != 1 || st.Total != 1 {
				t.Errorf("emulator: %d requests, %d streams; want 1 streamed call", st.Total, st.Streams)
			}
		})
	}
}

// TestEmulatorDisconnect: the tab closes while the emulator's stream hangs
// after the first draft; the adapter's call ends (and goleak finds no
// goroutine left behind by the adapter, the stack or the server).
func TestEmulatorDisconnect(t *testing.T) {
	for _, api := range []string{"gemini", "openai"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			g, emu, ep := onEmulator(t, api, providertest.Options{})
			emu.Inject(ep, providertest.StreamHang())
			g, ended := callEnds(g)
			srv := newTestServer(t, g, config{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, events := open(t, ctx, srv, "a red fox, then the tab closes")
			if ev := <-events; ev.name != "preview" {
				t.Fatalf("first event %s: %.300s", ev.name, ev.data)
			}
			cancel()
			select {
			case err := <-ended:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("adapter call ended with ctx error %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second): // generous: it ends within milliseconds
				t.Fatal("adapter call still running 10 s after the client went away")
			}
		})
	}
}

// TestEmulatorBrokenStream: the emulator resets the connection after the
// first draft; the browser, which has shown it, gets an error event that
// says the stream broke, and retry does not call again.
func TestEmulatorBrokenStream(t *testing.T) {
	for _, api := range []string{"gemini", "openai"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			g, emu, ep := onEmulator(t, api, providertest.Options{})
			emu.Inject(ep, providertest.StreamReset())
			srv := newTestServer(t, g, config{})
			_, events := open(t, t.Context(), srv, "a lighthouse, cut short")
			var got []string
			for ev := range events {
				got = append(got, ev.name)
				if ev.name == "error" {
					if e := unmarshal[errorEvent](t, ev); e.Kind != "provider unavailable" || !strings.Contains(e.Message, "broke") {
						t.Errorf("error event %+v", e)
					}
				}
			}
			if strings.Join(got, " ") != "preview error" {
				t.Errorf("events %q, want a preview then the error", got)
			}
			if n := emu.Stats().Total; n != 1 {
				t.Errorf("emulator saw %d calls: retried after a draft reached the browser", n)
			}
		})
	}
}
