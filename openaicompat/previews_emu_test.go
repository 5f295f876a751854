package openaicompat_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/openaicompat"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// TestPreviewsOnEmulator runs the adapter against the emulator's real
// event streams, for generations and edits, in every stream mode a relay
// can have, and compares the final answer with the one of the same call
// without previews.
func TestPreviewsOnEmulator(t *testing.T) {
	t.Parallel()
	for _, mode := range []providertest.StreamMode{providertest.StreamEvents, providertest.StreamFinalOnly, providertest.StreamIgnored, providertest.StreamRefused} {
		for _, edit := range []bool{false, true} {
			for _, count := range []int{1, 3} {
				name := fmt.Sprintf("%s/edit=%v/count=%d", mode, edit, count)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					srv, g := setup(t, providertest.Options{StreamMode: mode}, openaicompat.Config{})
					base := provider.Request{Prompt: "a kite", Size: "1024x1024", Quality: "low"}
					if edit {
						base.References = []provider.Image{{Data: pngBytes(t, 8, 8)}}
					}
					plain, err := g.Generate(context.Background(), &base)
					if err != nil {
						t.Fatal(err)
					}
					r := base
					req, got := previewsReq(count, &r)
					resp, err := g.Generate(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					wantPreviews, wantStreams, wantAttempts := count, 1, 1
					switch mode {
					case providertest.StreamFinalOnly:
						wantPreviews = 0
					case providertest.StreamIgnored:
						wantPreviews, wantStreams = 0, 0
					case providertest.StreamRefused:
						wantPreviews, wantStreams, wantAttempts = 0, 0, 2
					}
					if len(*got) != wantPreviews || resp.Usage.Previews != wantPreviews {
						t.Errorf("%d previews, usage %+v; want %d", len(*got), resp.Usage, wantPreviews)
					}
					for i, p := range *got {
						if c := decoded(t, p.Image); p.Index != i || c.Width != 1024 {
							t.Errorf("preview %d: index %d, %dx%d", i, p.Index, c.Width, c.Height)
						}
					}
					if st := srv.Stats(); st.Streams != wantStreams {
						t.Errorf("emulator sent %d streams, want %d", st.Streams, wantStreams)
					}
					if resp.Attempts != wantAttempts {
						t.Errorf("attempts %d, want %d", resp.Attempts, wantAttempts)
					}
					if c := decoded(t, resp.Images[0]); c.Width != 1024 || len(resp.Images) != 1 {
						t.Errorf("final %dx%d, %d images", c.Width, c.Height, len(resp.Images))
					}
					u, pu := resp.Usage, plain.Usage
					u.Previews = 0
					if u != pu {
						t.Errorf("usage %+v, without previews %+v", resp.Usage, pu)
					}
					if fmt.Sprint(resp.Warnings) != fmt.Sprint(plain.Warnings) {
						t.Errorf("warnings %q, without previews %q", resp.Warnings, plain.Warnings)
					}
				})
			}
		}
	}
}

// TestPreviewsEmulatorFaults injects the emulator's mid-stream faults:
// each ends the call with a typed error that counts the partial image
// the caller has already seen.
func TestPreviewsEmulatorFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		fault providertest.Fault
		kind  provider.Kind
		code  string
	}{
		{providertest.StreamReset(), provider.KindUnavailable, ""},
		{providertest.StreamHang(), provider.KindTimeout, ""}, // the caller gives up (see below)
		{providertest.StreamMalformed(), provider.KindUnavailable, "MALFORMED"},
		{providertest.StreamError(), provider.KindUnavailable, "server_error"},
		{providertest.StreamIncomplete(), provider.KindUnavailable, openaicompat.CodeStreamTruncated},
	}
	for _, tc := range cases {
		for _, ep := range []providertest.Endpoint{providertest.EndpointImagesGenerations, providertest.EndpointImagesEdits} {
			t.Run(tc.fault.Name+"/"+string(ep), func(t *testing.T) {
				t.Parallel()
				srv, g := setup(t, providertest.Options{}, openaicompat.Config{})
				srv.Inject(ep, tc.fault)
				req, got := previewsReq(2, &provider.Request{Prompt: "a kite", Size: "1024x1024", Quality: "low"})
				if ep == providertest.EndpointImagesEdits {
					req.References = []provider.Image{{Data: pngBytes(t, 8, 8)}}
				}
				ctx := context.Background()
				if tc.kind == provider.KindTimeout {
					// The hang lasts until the caller gives up: here 50 ms
					// after the first preview (the emulator's image takes
					// longer than that under -race, so the clock starts
					// with the preview), as a deadline would.
					ctx2, cancel := context.WithCancelCause(ctx)
					defer cancel(nil)
					ctx = ctx2
					on := req.Options[len(req.Options)-1].(provider.Previews)
					inner := on.On
					on.On = func(p provider.Preview) {
						inner(p)
						time.AfterFunc(50*time.Millisecond, func() { cancel(context.DeadlineExceeded) })
					}
					req.Options[len(req.Options)-1] = on
				}
				resp, err := g.Generate(ctx, req)
				if err == nil {
					t.Fatalf("no error: %d images", len(resp.Images))
				}
				pe := kindOf(t, err, tc.kind)
				if tc.code != "" && pe.Code != tc.code {
					t.Errorf("code %q, want %q: %v", pe.Code, tc.code, err)
				}
				if len(*got) != 1 || pe.Usage == nil || pe.Usage.Previews != 1 {
					t.Errorf("%d previews, usage %+v", len(*got), pe.Usage)
				}
				if tc.kind == provider.KindTimeout && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err %v", err)
				}
			})
		}
	}
}
