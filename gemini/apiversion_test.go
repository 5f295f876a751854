package gemini_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// The version in the request path is pinned: genai's default moved from
// v1beta to v1 in genai v1.78.0 and GOOGLE_GENAI_API_VERSION can move it
// again, but only Config.APIVersion, or the variable with
// Config.APIVersionFromEnv, may. This test walks every call the adapter
// makes (generateContent, inline and file batch jobs, the Files API through
// Client()) and fails when one leaves the expected version. If it fails
// after a genai upgrade, read genai's CHANGELOG before changing it.
func TestAPIVersionInEveryPath(t *testing.T) {
	tests := []struct {
		name, env, version string
		fromEnv            bool
		want               string
	}{
		{name: "pinned", want: "v1beta"},
		{name: "env ignored", env: "v1", want: "v1beta"},
		{name: "env opted in", env: "v1", fromEnv: true, want: "v1"},
		{name: "env beta opted in", env: "beta", fromEnv: true, want: "v1beta"},
		{name: "explicit wins", env: "v1", fromEnv: true, version: "v1alpha", want: "v1alpha"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("GOOGLE_GENAI_API_VERSION", tt.env)
			clk := providertest.NewClock(now)
			srv := providertest.NewServer(providertest.Options{APIKey: testKey, Clock: clk})
			defer srv.Close()
			g, err := gemini.New(context.Background(), gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(),
				APIVersion: tt.version, APIVersionFromEnv: tt.fromEnv, Model: "gemini-3-pro-image", Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			callEverything(t, g, clk)

			seen := map[providertest.Endpoint]int{}
			for _, r := range srv.Requests() {
				seen[r.Endpoint]++
				want := "/" + tt.want + "/"
				switch {
				case r.Endpoint == providertest.EndpointFileUpload && strings.Contains(r.RawQuery, "upload_id="):
					continue // a chunk goes to the URL the server chose
				case r.Endpoint == providertest.EndpointFileUpload:
					want = "/upload/" + tt.want + "/files"
				}
				if !strings.HasPrefix(r.Path, want) {
					t.Errorf("%s %s went to %s, want %s…", r.Method, r.Endpoint, r.Path, want)
				}
			}
			for _, ep := range []providertest.Endpoint{
				providertest.EndpointGenerateContent, providertest.EndpointBatchCreate, providertest.EndpointBatchGet,
				providertest.EndpointBatchCancel, providertest.EndpointFileUpload, providertest.EndpointFileDownload,
				providertest.EndpointFileGet, providertest.EndpointFileDelete,
			} {
				if seen[ep] == 0 {
					t.Errorf("no %s call was made, so its path went unchecked", ep)
				}
			}
		})
	}
}

// callEverything makes every kind of call the adapter makes.
func callEverything(t *testing.T, g *gemini.Generator, clk *providertest.Clock) {
	t.Helper()
	ctx := context.Background()
	if _, err := g.Generate(ctx, &provider.Request{Prompt: "a red fox"}); err != nil {
		t.Fatal(err)
	}
	inline, err := g.SubmitBatch(ctx, items("inline"), gemini.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.CancelBatch(ctx, inline.Name); err != nil {
		t.Fatal(err)
	}
	file, err := g.SubmitBatch(ctx, items("from a file"), gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour) // the emulator's jobs take a minute
	done, err := g.Batch(ctx, file.Name)
	if err != nil || done.State != gemini.BatchSucceeded {
		t.Fatalf("batch %+v: %v", done, err)
	}
	if res, err := g.BatchResultsContext(ctx, done); err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("results %+v: %v", res, err)
	}
	// Client() is the same client, for the Files calls the adapter leaves
	// to its caller.
	if _, err := g.Client().Files.Get(ctx, file.InputFile, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Client().Files.Delete(ctx, file.InputFile, nil); err != nil {
		t.Fatal(err)
	}
}

// On Vertex AI the version stays genai's v1beta1, set explicitly so that
// GOOGLE_GENAI_API_VERSION cannot move it either.
func TestAPIVersionOnVertex(t *testing.T) {
	tests := []struct {
		name, env string
		fromEnv   bool
		want      string
	}{
		{name: "pinned", want: "/v1beta1/projects/p/locations/us-central1/publishers/google/models/"},
		{name: "env ignored", env: "v1", want: "/v1beta1/projects/p/locations/us-central1/publishers/google/models/"},
		{name: "env opted in", env: "v1", fromEnv: true, want: "/v1/projects/p/locations/us-central1/publishers/google/models/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("GOOGLE_GENAI_API_VERSION", tt.env)
			srv := providertest.NewServer(providertest.Options{APIKey: testKey})
			defer srv.Close()
			g, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, Project: "p", Location: "us-central1",
				APIKey: testKey, BearerAuth: true, BaseURL: srv.URL(), HTTPClient: srv.Client(), APIVersionFromEnv: tt.fromEnv,
				Clock: providertest.NewClock(now)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "p"}); err != nil {
				t.Fatal(err)
			}
			if p := srv.Requests()[0].Path; !strings.HasPrefix(p, tt.want) {
				t.Errorf("path %s, want %s…", p, tt.want)
			}
		})
	}
}
