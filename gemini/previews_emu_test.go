package gemini_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The adapter against the emulator's real streams: the previews are the
// thought images, the final response is the one generateContent gives for
// the same request.
func TestPreviewsEmulator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		model    string
		previews int
	}{
		{"gemini-3-pro-image", 2},
		{"gemini-nano-banana-2.1", 2},
		{"gemini-3.1-flash-image", 2},
		{"gemini-2.5-flash-image", 0}, // does not think: no drafts
	} {
		t.Run(tc.model, func(t *testing.T) {
			t.Parallel()
			srv, g := setup(t, providertest.Options{}, gemini.Config{})
			var c collected
			req := previewReq(tc.model, &c)
			plain := *req
			plain.Options = nil
			want, err := g.Generate(context.Background(), &plain)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Generate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("streamed %+v\nwant      %+v", summary(got), summary(want))
			}
			if len(c.previews) != tc.previews {
				t.Fatalf("%d previews, want %d", len(c.previews), tc.previews)
			}
			for i, p := range c.previews {
				if p.Index != i || p.Provider != "gemini" || len(p.Image.Data) == 0 || provider.SniffMIME(p.Image.Data) != p.Image.MIMEType {
					t.Errorf("preview %d: %d, %q, %d bytes %s", i, p.Index, p.Provider, len(p.Image.Data), p.Image.MIMEType)
				}
			}
			if st := srv.Stats(); st.Streams != 1 {
				t.Errorf("%d streams, want 1", st.Streams)
			}
		})
	}
}

// The emulator's mid-stream faults fire after the first draft: each ends
// the call with a typed error, the draft already delivered.
func TestPreviewsEmulatorFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		fault    providertest.Fault
		kind     error
		code     string
		previews int
		retry    time.Duration
	}{
		{"reset after the first draft", providertest.StreamReset(), provider.ErrUnavailable, "", 1, 0},
		{"error chunk", providertest.StreamError(), provider.ErrUnavailable, "UNAVAILABLE", 1, 0},
		{"malformed chunk", providertest.StreamMalformed(), provider.ErrUnavailable, "MALFORMED", 1, 0},
		{"incomplete", providertest.StreamIncomplete(), provider.ErrUnavailable, "MALFORMED", 1, 0},
		{"429 before the stream", providertest.RateLimited(5 * time.Second), provider.ErrRateLimited, "RESOURCE_EXHAUSTED", 0, 5 * time.Second},
		{"safety block", providertest.SafetyBlock("IMAGE_SAFETY"), provider.ErrContentBlocked, "IMAGE_SAFETY", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, g := setup(t, providertest.Options{}, gemini.Config{})
			srv.Inject(providertest.EndpointStreamGenerateContent, tc.fault)
			var c collected
			_, err := g.Generate(context.Background(), previewReq("gemini-3-pro-image", &c))
			var pe *provider.Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &pe) {
				t.Fatalf("err %v, want %v", err, tc.kind)
			}
			if tc.code != "" && pe.Code != tc.code {
				t.Errorf("code %q, want %q (%v)", pe.Code, tc.code, err)
			}
			if pe.RetryAfter != tc.retry {
				t.Errorf("RetryAfter %v, want %v", pe.RetryAfter, tc.retry)
			}
			if len(c.previews) != tc.previews {
				t.Errorf("%d previews, want %d", len(c.previews), tc.previews)
			}
		})
	}
}

// A stream that hangs after a draft ends when the caller's context does.
func TestPreviewsEmulatorHang(t *testing.T) {
	t.Parallel()
	srv, g := setup(t, providertest.Options{}, gemini.Config{})
	srv.Inject(providertest.EndpointStreamGenerateContent, providertest.StreamHang())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	req := &provider.Request{Prompt: "p", Model: "gemini-3-pro-image", Options: provider.Options{provider.Previews{On: func(provider.Preview) { n++; cancel() }}}}
	_, err := g.Generate(ctx, req)
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Fatalf("err %v after %d previews", err, n)
	}
}
