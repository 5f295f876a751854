package providertest_test

// The JS compatibility suite's checks (compat/js/test), made with the Go
// clients: genai and go-openai. Subtest names match the JS test names, so
// the table in doc.go lines them up. A check that the Go client cannot
// make says so with t.Skip and the reason.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sashabaranov/go-openai"
	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

// compatCheck is one named check of the compatibility table.
type compatCheck struct {
	name string
	run  func(t *testing.T)
}

func googleImage(t *testing.T, resp *genai.GenerateContentResponse) *genai.Part {
	t.Helper()
	var last *genai.Part
	if resp != nil && len(resp.Candidates) > 0 && resp.Candidates[0].Content != nil {
		for _, p := range resp.Candidates[0].Content.Parts {
			if p.InlineData != nil && !p.Thought {
				last = p
			}
		}
	}
	return last
}

func wantAPIError(t *testing.T, err error, code int) genai.APIError {
	t.Helper()
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != code {
		t.Fatalf("want genai.APIError %d, got %v", code, err)
	}
	return ae
}

func TestCompatGenai(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{Clock: newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	const model = "gemini-3-pro-image"
	client := func(version string) *genai.Client {
		t.Helper()
		opts := genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: version}
		c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI, HTTPClient: srv.Client(), HTTPOptions: opts})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	gc := client("v1beta")
	vertex := vertexClient(t, srv, "test-key")
	generate := func() (*genai.GenerateContentResponse, error) {
		return gc.Models.GenerateContent(ctx, model, genai.Text("x"), nil)
	}
	png := base64.StdEncoding.EncodeToString(pngBytes(t, 2, 2))
	faultThen := func(f providertest.Fault, check func(t *testing.T, resp *genai.GenerateContentResponse, err error)) func(t *testing.T) {
		return func(t *testing.T) {
			srv.Inject(providertest.EndpointGenerateContent, f)
			resp, err := generate()
			check(t, resp, err)
			if resp, err := generate(); err != nil || googleImage(t, resp) == nil {
				t.Errorf("the fault was not used up: %v", err)
			}
		}
	}
	retryDelay := func(ae genai.APIError) any { return detail(ae, "RetryInfo", "retryDelay") }
	inline := func(prompts ...string) *genai.BatchJobSource {
		src := &genai.BatchJobSource{}
		for _, p := range prompts {
			src.InlinedRequests = append(src.InlinedRequests, &genai.InlinedRequest{Contents: genai.Text(p)})
		}
		return src
	}

	checks := []compatCheck{
		{"generateContent: text to image at 2K", func(t *testing.T) {
			resp, err := gc.Models.GenerateContent(ctx, model, genai.Text("a red fox"), genCfg("2K", "1:1"))
			if err != nil {
				t.Fatal(err)
			}
			img := googleImage(t, resp)
			cfg, _, err := image.DecodeConfig(bytes.NewReader(img.InlineData.Data))
			if err != nil || cfg.Width != 2048 || img.ThoughtSignature == nil || resp.UsageMetadata.CandidatesTokenCount != 1120 {
				t.Errorf("%v %+v sig %d usage %+v", err, cfg, len(img.ThoughtSignature), resp.UsageMetadata)
			}
		}},
		{"generateContent on the SDK default API version (v1)", func(t *testing.T) {
			c, err := genai.NewClient(ctx, &genai.ClientConfig{APIKey: "test-key", Backend: genai.BackendGeminiAPI,
				HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL()}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Models.GenerateContent(ctx, model, genai.Text("a kite"), nil); err != nil {
				t.Fatal(err)
			}
			if p := srv.Requests()[0].Path; p != "/v1/models/"+model+":generateContent" {
				t.Errorf("path %s", p)
			}
		}},
		{"edit: two reference images and a prompt", func(t *testing.T) {
			data, _ := base64.StdEncoding.DecodeString(png)
			resp, err := gc.Models.GenerateContent(ctx, model, []*genai.Content{genai.NewContentFromParts([]*genai.Part{
				genai.NewPartFromBytes(data, "image/png"), genai.NewPartFromBytes(data, "image/png"),
				genai.NewPartFromText("put the first subject into the second scene")}, genai.RoleUser)}, nil)
			if err != nil || googleImage(t, resp) == nil {
				t.Fatal(err)
			}
			for _, d := range resp.UsageMetadata.PromptTokensDetails {
				if d.Modality == genai.MediaModalityImage && d.TokenCount != 1120 {
					t.Errorf("image tokens %d", d.TokenCount)
				}
			}
		}},
		{"session: chats send the thought signatures back", func(t *testing.T) {
			chat, err := gc.Chats.Create(ctx, model, &genai.GenerateContentConfig{ResponseModalities: []string{"TEXT", "IMAGE"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range []string{"a lighthouse at dusk", "now at dawn"} {
				if resp, err := chat.SendMessage(ctx, genai.Part{Text: msg}); err != nil || googleImage(t, resp) == nil {
					t.Fatalf("%s: %v", msg, err)
				}
			}
			contents := srv.Requests()[1].JSON["contents"].([]any)
			for _, p := range contents[1].(map[string]any)["parts"].([]any) {
				part := p.(map[string]any)
				if part["thought"] != true && part["thoughtSignature"] == nil {
					t.Errorf("part without signature: %v", part)
				}
			}
		}},
		{"session: a model turn without its signature is refused (400)", func(t *testing.T) {
			data, _ := base64.StdEncoding.DecodeString(png)
			_, err := gc.Models.GenerateContent(ctx, model, []*genai.Content{
				genai.NewContentFromText("a lighthouse", genai.RoleUser),
				genai.NewContentFromParts([]*genai.Part{genai.NewPartFromBytes(data, "image/png")}, genai.RoleModel),
				genai.NewContentFromText("now at dawn", genai.RoleUser)}, nil)
			if ae := wantAPIError(t, err, 400); !strings.Contains(ae.Message, "thought_signature") {
				t.Error(ae.Message)
			}
		}},
		{"Imagen: generateImages through :predict (Vertex AI, express mode)", func(t *testing.T) {
			resp, err := vertex.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "a lighthouse", &genai.GenerateImagesConfig{NumberOfImages: 2, AspectRatio: "16:9"})
			if err != nil || len(resp.GeneratedImages) != 2 {
				t.Fatal(err)
			}
			cfg, _, _ := image.DecodeConfig(bytes.NewReader(resp.GeneratedImages[0].Image.ImageBytes))
			if cfg.Width <= cfg.Height {
				t.Errorf("%+v", cfg)
			}
		}},
		{"upload, get, list (paged), delete", func(t *testing.T) {
			var names []string
			for _, n := range []string{"1", "2", "3"} {
				f, err := gc.Files.Upload(ctx, strings.NewReader("line "+n+"\n"), &genai.UploadFileConfig{MIMEType: "text/plain", DisplayName: "file " + n})
				if err != nil || f.State != genai.FileStateActive || f.Source != genai.FileSourceUploaded || f.DownloadURI != "" {
					t.Fatalf("%v %+v", err, f)
				}
				names = append(names, f.Name)
			}
			if got, err := gc.Files.Get(ctx, names[0], nil); err != nil || got.DisplayName != "file 1" || *got.SizeBytes != 7 {
				t.Fatalf("%v %+v", err, got)
			}
			n := 0
			for _, err := range gc.Files.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 3 {
				t.Errorf("listed %d", n)
			}
			if _, err := gc.Files.Delete(ctx, names[0], nil); err != nil {
				t.Fatal(err)
			}
			_, err := gc.Files.Get(ctx, names[0], nil)
			wantAPIError(t, err, 403)
		}},
		{"upload under v1 starts at /upload/v1/files and the session URL keeps v1", func(t *testing.T) {
			if _, err := client("v1").Files.Upload(ctx, strings.NewReader("hello"), &genai.UploadFileConfig{MIMEType: "text/plain"}); err != nil {
				t.Fatal(err)
			}
			for _, r := range srv.Requests() {
				if r.Path != "/upload/v1/files" {
					t.Errorf("upload went to %s", r.Path)
				}
			}
		}},
		{"list under v1 is the Files API, not an OpenAI 404", func(t *testing.T) {
			if page, err := client("v1").Files.List(ctx, nil); err != nil || len(page.Items) != 0 {
				t.Fatalf("%v %+v", err, page)
			}
		}},
		{"download a generated file (a batch responses file)", func(t *testing.T) {
			in, err := gc.Files.Upload(ctx, strings.NewReader(`{"key":"k1","request":{"contents":[{"parts":[{"text":"a cat"}]}]}}`+"\n"+
				`{"key":"k2","request":{"contents":[{"parts":[{"text":"FAIL_ITEM a dog"}]}]}}`), &genai.UploadFileConfig{MIMEType: "application/jsonl"})
			if err != nil {
				t.Fatal(err)
			}
			job, err := gc.Batches.Create(ctx, model, &genai.BatchJobSource{FileName: in.Name}, nil)
			if err != nil {
				t.Fatal(err)
			}
			srv.AdvanceClock(2 * time.Minute)
			done, err := gc.Batches.Get(ctx, job.Name, nil)
			if err != nil || done.State != genai.JobStateSucceeded || done.Dest == nil {
				t.Fatalf("%v %+v", err, done)
			}
			b, err := gc.Files.Download(ctx, genai.NewDownloadURIFromFile(&genai.File{DownloadURI: done.Dest.FileName}), nil)
			if err != nil || !bytes.Contains(b, []byte(`"key":"k1"`)) || !bytes.Contains(b, []byte(`"code":13`)) {
				t.Fatalf("%v %s", err, b)
			}
		}},
		{"download of an uploaded file is refused (400)", func(t *testing.T) {
			f, err := gc.Files.Upload(ctx, strings.NewReader("x"), &genai.UploadFileConfig{MIMEType: "text/plain"})
			if err != nil {
				t.Fatal(err)
			}
			// genai Go does not check the status: the refusal arrives as the bytes.
			b, err := gc.Files.Download(ctx, genai.NewDownloadURIFromFile(&genai.File{DownloadURI: f.Name}), nil)
			if err != nil || !bytes.Contains(b, []byte("not downloadable")) {
				t.Fatalf("%v %s", err, b)
			}
		}},
		{"create inline, get through PENDING, RUNNING, SUCCEEDED, results", func(t *testing.T) {
			job, err := gc.Batches.Create(ctx, model, inline("a cat", "FAIL_ITEM a dog"), &genai.CreateBatchJobConfig{DisplayName: "two"})
			if err != nil || job.State != genai.JobStatePending {
				t.Fatalf("%v %+v", err, job)
			}
			for _, want := range []genai.JobState{genai.JobStateRunning, genai.JobStateSucceeded} {
				srv.AdvanceClock(30 * time.Second)
				if got, err := gc.Batches.Get(ctx, job.Name, nil); err != nil || got.State != want {
					t.Fatalf("want %s: %v %+v", want, err, got)
				}
			}
			done, _ := gc.Batches.Get(ctx, job.Name, nil)
			res := done.Dest.InlinedResponses
			if len(res) != 2 || googleImage(t, res[0].Response) == nil || res[1].Error == nil || *res[1].Error.Code != 13 {
				t.Errorf("%+v", res)
			}
		}},
		{"list, newest first", func(t *testing.T) {
			a, _ := gc.Batches.Create(ctx, model, inline("a"), nil)
			b, _ := gc.Batches.Create(ctx, model, inline("b"), nil)
			var names []string
			for j, err := range gc.Batches.All(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				names = append(names, j.Name)
			}
			if len(names) != 2 || names[0] != b.Name || names[1] != a.Name {
				t.Errorf("%v", names)
			}
		}},
		{"cancel, then delete", func(t *testing.T) {
			job, _ := gc.Batches.Create(ctx, model, inline("a"), nil)
			if err := gc.Batches.Cancel(ctx, job.Name, nil); err != nil {
				t.Fatal(err)
			}
			if got, _ := gc.Batches.Get(ctx, job.Name, nil); got.State != genai.JobStateCancelled {
				t.Errorf("%s", got.State)
			}
			if _, err := gc.Batches.Delete(ctx, job.Name, nil); err != nil {
				t.Fatal(err)
			}
			_, err := gc.Batches.Get(ctx, job.Name, nil)
			wantAPIError(t, err, 404)
		}},
		{"expire through the control endpoint", func(t *testing.T) {
			job, _ := gc.Batches.Create(ctx, model, inline("a"), nil)
			srv.ExpireBatch(job.Name)
			if got, _ := gc.Batches.Get(ctx, job.Name, nil); got.State != genai.JobStateExpired {
				t.Errorf("%s", got.State)
			}
		}},
		{"RateLimited", faultThen(providertest.RateLimited(7*time.Second), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 429); retryDelay(ae) != "7s" {
				t.Errorf("%v", ae.Details)
			}
		})},
		{"RateLimitedUntil", faultThen(providertest.RateLimitedUntil(time.Date(2026, 12, 4, 9, 1, 30, 0, time.UTC)), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 429); retryDelay(ae) != "90s" {
				t.Errorf("%v", ae.Details)
			}
		})},
		{"DailyQuotaExhausted", faultThen(providertest.DailyQuotaExhausted(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 429); detail(ae, "QuotaFailure", "quotaId") != "GenerateRequestsPerDayPerProjectPerModel" {
				t.Errorf("%v", ae.Details)
			}
		})},
		{"QuotaZero", faultThen(providertest.QuotaZero(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 429); !strings.Contains(ae.Message, "limit: 0") {
				t.Error(ae.Message)
			}
		})},
		{"PaymentRequired", faultThen(providertest.PaymentRequired(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			wantAPIError(t, err, 402)
		})},
		{"ModelRetired", faultThen(providertest.ModelRetired(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 404); !strings.Contains(ae.Message, "not found for API version v1beta") {
				t.Error(ae.Message)
			}
		})},
		{"Unavailable", faultThen(providertest.Unavailable(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			wantAPIError(t, err, 503)
		})},
		{"ProxyHTML502", faultThen(providertest.ProxyHTML502(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			wantAPIError(t, err, 502)
		})},
		{"Status", faultThen(providertest.Status(418, `{"error":{"code":418,"message":"teapot","status":"UNKNOWN"}}`, nil), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if ae := wantAPIError(t, err, 418); ae.Message != "teapot" {
				t.Error(ae.Message)
			}
		})},
		{"SafetyBlock", faultThen(providertest.SafetyBlock("IMAGE_SAFETY"), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || resp.Candidates[0].FinishReason != "IMAGE_SAFETY" || googleImage(t, resp) != nil {
				t.Errorf("%v %+v", err, resp)
			}
		})},
		{"PromptBlocked", faultThen(providertest.PromptBlocked("PROHIBITED_CONTENT"), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || resp.PromptFeedback == nil || resp.PromptFeedback.BlockReason != "PROHIBITED_CONTENT" || len(resp.Candidates) != 0 {
				t.Errorf("%v %+v", err, resp)
			}
		})},
		{"NoImage", faultThen(providertest.NoImage(), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || resp.Candidates[0].FinishReason != "NO_IMAGE" {
				t.Errorf("%v %+v", err, resp)
			}
		})},
		{"Latency", faultThen(providertest.Latency(50*time.Millisecond), func(t *testing.T, resp *genai.GenerateContentResponse, err error) {
			if err != nil || googleImage(t, resp) == nil {
				t.Error(err)
			}
		})},
		{"Hang", faultThen(providertest.Hang(), func(t *testing.T, _ *genai.GenerateContentResponse, _ error) {
			// The fault was injected for the call below, with a deadline.
		})},
		{"Truncated", faultThen(providertest.Truncated(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			var ae genai.APIError
			if err == nil || errors.As(err, &ae) {
				t.Errorf("want a transport error, got %v", err)
			}
		})},
		{"Malformed", faultThen(providertest.Malformed(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			if err == nil || !strings.Contains(err.Error(), "unexpected end of JSON input") {
				t.Errorf("got %v", err)
			}
		})},
		{"Reset", faultThen(providertest.Reset(), func(t *testing.T, _ *genai.GenerateContentResponse, err error) {
			var ne net.Error
			if err == nil || !(errors.As(err, &ne) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "reset")) {
				t.Errorf("got %v", err)
			}
		})},
		{"ModelRetired names v1 on a v1 request", func(t *testing.T) {
			srv.Inject(providertest.EndpointGenerateContent, providertest.ModelRetired())
			_, err := client("v1").Models.GenerateContent(ctx, model, genai.Text("x"), nil)
			if ae := wantAPIError(t, err, 404); !strings.Contains(ae.Message, "for API version v1, or is not supported for generateContent") {
				t.Error(ae.Message)
			}
		}},
		{"PartialFilter on Imagen predict", func(t *testing.T) {
			srv.Inject(providertest.EndpointPredict, providertest.PartialFilter(1))
			resp, err := vertex.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", &genai.GenerateImagesConfig{NumberOfImages: 3, IncludeRAIReason: true})
			if err != nil {
				t.Fatal(err)
			}
			ok, filtered := 0, 0
			for _, g := range resp.GeneratedImages {
				if g.Image != nil && len(g.Image.ImageBytes) > 0 {
					ok++
				}
				if g.RAIFilteredReason != "" {
					filtered++
				}
			}
			if ok != 2 || filtered != 1 {
				t.Errorf("%d images, %d filtered", ok, filtered)
			}
		}},
		{"Vertex AI predict: a 429 without details (no RetryInfo)", func(t *testing.T) {
			srv.Inject(providertest.EndpointPredict, providertest.RateLimited(7*time.Second))
			_, err := vertex.Models.GenerateImages(ctx, "imagen-4.0-generate-001", "x", nil)
			if ae := wantAPIError(t, err, 429); len(ae.Details) != 0 || !strings.Contains(ae.Message, "online_prediction_requests_per_base_model") {
				t.Errorf("%+v", ae)
			}
		}},
		{`random faults on every endpoint ("*", probability 1), then cleared`, func(t *testing.T) {
			srv.InjectRandom(providertest.EndpointAny, 1, providertest.Unavailable())
			_, err := generate()
			wantAPIError(t, err, 503)
			srv.ClearFaults()
			if _, err := generate(); err != nil {
				t.Fatal(err)
			}
		}},
		{"the emulator's own rate limit: 429 with RetryInfo", func(t *testing.T) {
			srv.SetLimits(1, 0)
			_, _ = generate()
			_, err := generate()
			if ae := wantAPIError(t, err, 429); retryDelay(ae) == nil {
				t.Errorf("%v", ae.Details)
			}
			srv.AdvanceClock(61 * time.Second)
			if _, err := generate(); err != nil {
				t.Fatal(err)
			}
		}},
		{"a wrong key: ApiError 400 API_KEY_INVALID", func(t *testing.T) {
			bad := geminiClient(t, srv, "wrong", nil)
			_, err := bad.Models.GenerateContent(ctx, model, genai.Text("x"), nil)
			if ae := wantAPIError(t, err, 400); ae.Details[0]["reason"] != "API_KEY_INVALID" {
				t.Errorf("%v", ae.Details)
			}
		}},
		{"an unknown path under v1 answers Google's NOT_FOUND (models.list)", func(t *testing.T) {
			_, err := client("v1").Models.List(ctx, nil)
			if ae := wantAPIError(t, err, 404); ae.Status != "NOT_FOUND" {
				t.Error(ae.Status)
			}
		}},
		{"generateContentStream: StreamError mid-stream is ApiError 503 after the first draft", func(t *testing.T) {
			srv.Inject(providertest.EndpointStreamGenerateContent, providertest.StreamError())
			var kinds []string
			var got error
			for resp, err := range gc.Models.GenerateContentStream(ctx, model, genai.Text("x"), &genai.GenerateContentConfig{
				AutomaticContinuation: genai.Ptr(false), ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}) {
				if err != nil {
					got = err
					break
				}
				for _, p := range resp.Candidates[0].Content.Parts {
					if p.InlineData != nil && p.Thought {
						kinds = append(kinds, "draft")
					} else if p.Thought {
						kinds = append(kinds, "thought")
					}
				}
			}
			if ae := wantAPIError(t, got, 503); ae.Status != "UNAVAILABLE" || strings.Join(kinds, ",") != "thought,draft" {
				t.Errorf("%v %v", ae, kinds)
			}
		}},
		{"generateContentStream: a thought, two drafts, then the final image", func(t *testing.T) {
			var kinds []string
			for resp, err := range gc.Models.GenerateContentStream(ctx, model, genai.Text("x"), &genai.GenerateContentConfig{
				AutomaticContinuation: genai.Ptr(false), ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true}}) {
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range resp.Candidates[0].Content.Parts {
					switch {
					case p.InlineData != nil && p.Thought:
						kinds = append(kinds, "draft")
					case p.InlineData != nil:
						kinds = append(kinds, "final")
					default:
						kinds = append(kinds, "thought")
					}
				}
			}
			if strings.Join(kinds, ",") != "thought,draft,draft,final" {
				t.Error(kinds)
			}
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			srv.Reset()
			if c.name == "Hang" {
				srv.Inject(providertest.EndpointGenerateContent, providertest.Hang())
				tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				if _, err := gc.Models.GenerateContent(tctx, model, genai.Text("x"), nil); !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("hang: %v", err)
				}
				return
			}
			c.run(t)
		})
	}
}

func TestCompatOpenAI(t *testing.T) {
	clearEnv(t)
	srv := newServer(t, providertest.Options{Clock: newClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))})
	ctx := context.Background()
	oc := openaiClient(t, srv, "test-key")
	reqID := regexp.MustCompile(`^req_[0-9a-f]{32}$`)
	gen := openai.ImageRequest{Model: "gpt-image-2", Prompt: "a kite over the sea"}
	call := func() (openai.ImageResponse, error) { return oc.CreateImage(ctx, gen) }
	apiErr := func(t *testing.T, err error, status int, code string) *openai.APIError {
		t.Helper()
		var ae *openai.APIError
		if !errors.As(err, &ae) || ae.HTTPStatusCode != status || (code != "" && ae.Code != code) {
			t.Fatalf("want APIError %d %s, got %v", status, code, err)
		}
		return ae
	}
	reqErr := func(t *testing.T, err error, status int) {
		t.Helper()
		var re *openai.RequestError
		if !errors.As(err, &re) || re.HTTPStatusCode != status {
			t.Fatalf("want RequestError %d, got %v", status, err)
		}
	}
	lastID := func() string { r := srv.Requests(); return r[len(r)-1].RequestID }
	fault := func(f providertest.Fault, check func(t *testing.T, resp openai.ImageResponse, err error)) func(t *testing.T) {
		return func(t *testing.T) {
			srv.Inject(providertest.EndpointImagesGenerations, f)
			resp, err := call()
			check(t, resp, err)
			if resp, err := call(); err != nil || len(resp.Data) != 1 {
				t.Errorf("the fault was not used up: %v", err)
			}
		}
	}
	transport := func(t *testing.T, _ openai.ImageResponse, err error) {
		var ae *openai.APIError
		var re *openai.RequestError
		if err == nil || errors.As(err, &ae) || errors.As(err, &re) {
			t.Errorf("want a transport error, got %v", err)
		}
	}
	noGo := func(why string) func(t *testing.T) { return func(t *testing.T) { t.Skip("go-openai v1.43: " + why) } }
	pngFile := func() *bytes.Reader { return bytes.NewReader(pngBytes(t, 2, 2)) }

	checks := []compatCheck{
		{"images.generate: two gpt-image-2 images at 1536x1024, usage", func(t *testing.T) {
			resp, err := oc.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x", N: 2, Size: "1536x1024", Quality: "high"})
			if err != nil || len(resp.Data) != 2 || resp.Usage.OutputTokens != 2*5488 {
				t.Fatalf("%v %+v", err, resp.Usage)
			}
			if cfg, _ := decodeB64(t, resp.Data[0].B64JSON); cfg.Width != 1536 || cfg.Height != 1024 {
				t.Errorf("%+v", cfg)
			}
		}},
		{"request_id: withResponse and _request_id carry x-request-id", func(t *testing.T) {
			resp, err := call()
			if id := resp.Header().Get("X-Request-Id"); err != nil || !reqID.MatchString(id) || id != lastID() {
				t.Errorf("%v %q", err, id)
			}
		}},
		{"images.generate: dall-e-2 with response_format url, served by the emulator", func(t *testing.T) {
			resp, err := oc.CreateImage(ctx, openai.ImageRequest{Model: "dall-e-2", Prompt: "x", Size: "256x256", ResponseFormat: "url"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := srv.Client().Get(resp.Data[0].URL)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Body.Close()
			if cfg, _, err := image.DecodeConfig(r.Body); err != nil || cfg.Width != 256 {
				t.Errorf("%v %+v", err, cfg)
			}
		}},
		{"images.edit: two images and a mask as multipart", noGo("ImageEditRequest takes one Image; openaicompat sends image[] itself")},
		{"chat.completions: images in message.images (OpenRouter shape)", noGo("ChatCompletionMessage has no images field")},
		{"chat.completions: markdown shape set through the control endpoint", func(t *testing.T) {
			srv.SetChatShape(providertest.ChatMarkdown)
			resp, err := oc.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "gemini-3-pro-image",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
			if err != nil || !strings.Contains(resp.Choices[0].Message.Content, "![image](data:image/png;base64,") {
				t.Fatalf("%v", err)
			}
		}},
		{"images.generate: partial_images 2, then the completed image with usage", noGo("ImageRequest has no stream field (raw: TestStreamOpenAIImages)")},
		{"images.edit: stream with partial_images 1 as multipart fields", noGo("ImageEditRequest has no stream field (raw: TestStreamOpenAIImages)")},
		{"chat.completions: chunks, the image in delta.images, [DONE]", func(t *testing.T) {
			// go-openai's delta has no images field: the markdown shape
			// carries the images in delta.content instead.
			srv.SetChatShape(providertest.ChatMarkdown)
			st, err := oc.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: "gemini-3-pro-image",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var content strings.Builder
			finish := openai.FinishReason("")
			for {
				chunk, err := st.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				content.WriteString(chunk.Choices[0].Delta.Content)
				if chunk.Choices[0].FinishReason != "" {
					finish = chunk.Choices[0].FinishReason
				}
			}
			if n := strings.Count(content.String(), "![image](data:image/png;base64,"); n != 2 || finish != openai.FinishReasonStop {
				t.Errorf("%d images in the streamed content (draft and final), finish %q", n, finish)
			}
		}},
		{"StreamError mid-stream: APIError (no status) after the first partial", noGo("ImageRequest has no stream field (raw: TestStreamFaults)")},
		{"StreamIncomplete: the stream ends silently, without image_generation.completed", noGo("ImageRequest has no stream field (raw: TestStreamFaults)")},
		{"StreamMalformed: SyntaxError on the cut-off event", noGo("ImageRequest has no stream field (raw: TestStreamFaults)")},
		{"streamMode refused (settings): 400 on stream, never an empty stream", func(t *testing.T) {
			srv.SetStreamMode(providertest.StreamRefused)
			_, err := oc.CreateChatCompletionStream(ctx, openai.ChatCompletionRequest{Model: "m",
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
			if ae := apiErr(t, err, 400, "unsupported_value"); ae.Param == nil || *ae.Param != "stream" {
				t.Errorf("%+v", ae)
			}
			if n := srv.Stats().Streams; n != 0 {
				t.Errorf("%d streams", n)
			}
		}},
		{"RateLimited", fault(providertest.RateLimited(7*time.Second), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 429, "rate_limit_exceeded")
		})},
		{"RateLimitedUntil", fault(providertest.RateLimitedUntil(time.Date(2026, 12, 4, 9, 1, 30, 0, time.UTC)), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 429, "rate_limit_exceeded")
		})},
		{"DailyQuotaExhausted", fault(providertest.DailyQuotaExhausted(), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 429, "insufficient_quota")
		})},
		{"QuotaZero", fault(providertest.QuotaZero(), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 429, "insufficient_quota")
		})},
		{"PaymentRequired", fault(providertest.PaymentRequired(), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 402, "billing_hard_limit_reached")
		})},
		{"ModelRetired", fault(providertest.ModelRetired(), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 404, "model_not_found")
		})},
		{"Unavailable", fault(providertest.Unavailable(), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 503, "server_error")
		})},
		{"ProxyHTML502", fault(providertest.ProxyHTML502(), func(t *testing.T, _ openai.ImageResponse, err error) { reqErr(t, err, 502) })},
		{"Status", fault(providertest.Status(409, `{"error":{"message":"busy","type":"conflict","param":null,"code":"conflict"}}`, nil),
			func(t *testing.T, _ openai.ImageResponse, err error) { apiErr(t, err, 409, "conflict") })},
		{"SafetyBlock", fault(providertest.SafetyBlock(""), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 400, "moderation_blocked")
		})},
		{"PromptBlocked", fault(providertest.PromptBlocked(""), func(t *testing.T, _ openai.ImageResponse, err error) {
			apiErr(t, err, 400, "content_policy_violation")
		})},
		{"NoImage", fault(providertest.NoImage(), func(t *testing.T, resp openai.ImageResponse, err error) {
			if err != nil || len(resp.Data) != 0 {
				t.Errorf("%v %+v", err, resp)
			}
		})},
		{"Latency", fault(providertest.Latency(50*time.Millisecond), func(t *testing.T, resp openai.ImageResponse, err error) {
			if err != nil || len(resp.Data) != 1 {
				t.Error(err)
			}
		})},
		{"Hang", func(t *testing.T) {
			srv.Inject(providertest.EndpointImagesGenerations, providertest.Hang())
			tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if _, err := oc.CreateImage(tctx, gen); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%v", err)
			}
		}},
		{"Truncated", fault(providertest.Truncated(), transport)},
		{"Malformed", fault(providertest.Malformed(), transport)},
		{"Reset", fault(providertest.Reset(), transport)},
		{"retries: maxRetries 1 honours retry-after-ms and succeeds", noGo("no retries (provider/retry does them: TestHintsEndToEnd in provider/retry)")},
		{"faults on images.edits and chat.completions", func(t *testing.T) {
			srv.Inject(providertest.EndpointImagesEdits, providertest.Unavailable())
			srv.Inject(providertest.EndpointChatCompletions, providertest.RateLimited(2*time.Second))
			_, err := oc.CreateEditImage(ctx, openai.ImageEditRequest{Model: "gpt-image-2", Prompt: "x", Image: pngFile()})
			apiErr(t, err, 503, "")
			_, err = oc.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "m", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "x"}}})
			apiErr(t, err, 429, "rate_limit_exceeded")
		}},
		{"the emulator's own rate limit: RateLimitError with retry-after", func(t *testing.T) {
			srv.SetLimits(1, 0)
			_, _ = call()
			_, err := call()
			apiErr(t, err, 429, "rate_limit_exceeded")
		}},
		{"a wrong key: AuthenticationError invalid_api_key, key masked", func(t *testing.T) {
			_, err := openaiClient(t, srv, "sk-wrong-key-0123456789").CreateImage(ctx, gen)
			if ae := apiErr(t, err, 401, "invalid_api_key"); strings.Contains(ae.Message, "sk-wrong-key-0123456789") {
				t.Error("key not masked")
			}
		}},
		{"a bad size: BadRequestError on param size", func(t *testing.T) {
			_, err := oc.CreateImage(ctx, openai.ImageRequest{Model: "gpt-image-2", Prompt: "x", Size: "1000x1000"})
			if ae := apiErr(t, err, 400, "invalid_value"); ae.Param == nil || *ae.Param != "size" {
				t.Errorf("%+v", ae)
			}
		}},
		{"an unknown path: NotFoundError in OpenAI's envelope", func(t *testing.T) {
			_, err := oc.GetModel(ctx, "nothing-here")
			if ae := apiErr(t, err, 404, ""); ae.Type != "invalid_request_error" {
				t.Errorf("%+v", ae)
			}
		}},
		{"GET /v1/models from OpenAI stays OpenAI's 404, not Google's", func(t *testing.T) {
			_, err := oc.ListModels(ctx)
			if ae := apiErr(t, err, 404, ""); ae.Type != "invalid_request_error" {
				t.Errorf("%+v", ae)
			}
		}},
		{"a refused connection: APIConnectionError", func(t *testing.T) {
			cfg := openai.DefaultConfig("test-key")
			cfg.BaseURL = "http://127.0.0.1:9/v1"
			cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
			_, err := openai.NewClientWithConfig(cfg).CreateImage(ctx, gen)
			var ne *net.OpError
			if !errors.As(err, &ne) {
				t.Errorf("%v", err)
			}
		}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			srv.Reset()
			c.run(t)
		})
	}
}
