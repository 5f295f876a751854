package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// lastCreate returns the body of the last batchGenerateContent call.
func lastCreate(t *testing.T, srv *providertest.Server) map[string]any {
	t.Helper()
	var body map[string]any
	for _, r := range srv.Requests() {
		if r.Endpoint == providertest.EndpointBatchCreate {
			body = r.JSON
		}
	}
	if body == nil {
		t.Fatal("no batchGenerateContent call")
	}
	return body["batch"].(map[string]any)["inputConfig"].(map[string]any)
}

func TestBatchFileSuccessWithPartialFailure(t *testing.T) {
	t.Parallel()
	srv, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("a cat", "FAIL_ITEM a dog", "a fox"), gemini.BatchOptions{DisplayName: "nightly", UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != gemini.BatchPending || !strings.HasPrefix(job.InputFile, "files/") || job.DisplayName != "nightly" {
		t.Fatalf("submitted %+v", job)
	}
	in := lastCreate(t, srv)
	if in["fileName"] != job.InputFile || in["requests"] != nil {
		t.Errorf("inputConfig %v", in)
	}
	upload := srv.Requests()[0]
	if upload.Endpoint != providertest.EndpointFileUpload || upload.Header.Get("X-Goog-Upload-Header-Content-Type") != gemini.BatchFileMIMEType ||
		upload.Header.Get("X-Goog-Api-Key") != "REDACTED" {
		t.Errorf("upload start %s %v", upload.Endpoint, upload.Header)
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk})
	if err != nil || done.State != gemini.BatchSucceeded || !strings.HasPrefix(done.ResultsFile, "files/") {
		t.Fatalf("wait: %v %+v", err, done)
	}
	results, err := g.BatchResultsContext(ctx, done)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 3 {
		t.Fatalf("%d results", len(results))
	}
	for i, want := range []string{"item-a cat", "item-FAIL_ITEM a dog", "item-a fox"} {
		if results[i].Key != want {
			t.Errorf("result %d key %q, want %q", i, results[i].Key, want)
		}
	}
	if results[0].Err != nil || len(results[0].Response.Images) != 1 || results[0].Response.Usage.OutputImageTokens == 0 || results[0].Response.Attempts != 1 {
		t.Errorf("item 0: %+v %v", results[0].Response, results[0].Err)
	}
	if !errors.Is(results[1].Err, provider.ErrUnavailable) || provider.KindOf(results[1].Err) != provider.KindUnavailable {
		t.Errorf("item 1 error %v, want the typed INTERNAL failure", results[1].Err)
	}
	if results[2].Err != nil || len(results[2].Response.Images) != 1 {
		t.Errorf("item 2: %v", results[2].Err)
	}
	st := srv.Stats().PerEndpoint
	if st[providertest.EndpointBatchCreate] != 1 || st[providertest.EndpointFileDownload] != 1 || st[providertest.EndpointFileUpload] != 2 {
		t.Errorf("calls %v", st)
	}
}

func TestBatchFileResumeAfterRestart(t *testing.T) {
	t.Parallel()
	srv, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("one", "two", "three"), gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	name := job.Name // all a restarted process keeps

	g2, err := gemini.New(ctx, gemini.Config{APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	resumed, err := g2.WaitBatch(ctx, name, gemini.WaitOptions{Clock: clk})
	if err != nil || resumed.ResultsFile == "" || resumed.InputFile != "" {
		t.Fatalf("%v %+v", err, resumed)
	}
	results, err := g2.BatchResults(resumed)
	if err != nil || len(results) != 3 {
		t.Fatalf("results %+v %v", results, err)
	}
	for i, want := range []string{"item-one", "item-two", "item-three"} {
		if results[i].Key != want || results[i].Err != nil || len(results[i].Response.Images) != 1 {
			t.Errorf("result %d: %q %v", i, results[i].Key, results[i].Err)
		}
	}
}

func TestBatchFileExpiryAndCancel(t *testing.T) {
	t.Parallel()
	_, g, clk := batchSetup(t, 72*time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("slow"), gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk, MaxInterval: time.Hour})
	if done == nil || done.State != gemini.BatchExpired || !errors.Is(err, provider.ErrTimeout) || done.ResultsFile != "" {
		t.Fatalf("state %+v err %v", done, err)
	}
	if _, err := g.BatchResults(done); !errors.Is(err, provider.ErrTimeout) {
		t.Errorf("results of an expired job: %v", err)
	}

	job, err = g.SubmitBatch(ctx, items("x"), gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.CancelBatch(ctx, job.Name); err != nil {
		t.Fatal(err)
	}
	done, err = g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk})
	if err != nil || done.State != gemini.BatchCancelled {
		t.Fatalf("%v %v", done, err)
	}
	if _, err := g.BatchResults(done); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("results of a cancelled job: %v", err)
	}
}

func TestBatchOver20MBGoesThroughAFile(t *testing.T) {
	t.Parallel()
	srv, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	ref := make([]byte, 2<<20) // 11 × 2 MB: each item fits, the job inline would not
	copy(ref, "\x89PNG\r\n\x1a\n")
	var its []gemini.BatchItem
	for i := range 11 {
		its = append(its, gemini.BatchItem{Key: "k" + strconv.Itoa(i), Request: &provider.Request{Prompt: "edit " + strconv.Itoa(i),
			References: []provider.Image{{Data: ref}}}})
	}
	job, err := g.SubmitBatch(ctx, its, gemini.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if job.InputFile == "" {
		t.Fatal("sent inline")
	}
	data, ok := srv.File(job.InputFile)
	if !ok || len(data) < gemini.MaxRequestBytes {
		t.Fatalf("input file %v, %d bytes", ok, len(data))
	}
	if n := bytes.Count(data, []byte("\n")); n != 11 {
		t.Errorf("%d lines", n)
	}
	if in := lastCreate(t, srv); in["requests"] != nil {
		t.Error("inline requests sent as well")
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	results, err := g.BatchResults(done)
	if err != nil || len(results) != 11 || results[10].Key != "k10" || results[10].Err != nil {
		t.Fatalf("%d results, %v", len(results), err)
	}

	// Under the limit, the same generator stays inline.
	job, err = g.SubmitBatch(ctx, its[:2], gemini.BatchOptions{})
	if err != nil || job.InputFile != "" || lastCreate(t, srv)["requests"] == nil {
		t.Errorf("small job: %v %+v", err, job)
	}
}

func TestBatchFileLinesMatchInlineRequests(t *testing.T) {
	t.Parallel()
	srv, g, _ := batchSetup(t, time.Hour)
	ctx := context.Background()
	seed := int64(42)
	item := gemini.BatchItem{Key: "same", Request: &provider.Request{
		Prompt: "a <b> & \"c\"", NegativePrompt: "blur", Size: "2K", AspectRatio: "16:9", Seed: &seed,
		References: []provider.Image{{Data: []byte("\x89PNG\r\n\x1a\nfake")}},
		Options:    provider.Options{gemini.Options{SystemInstruction: "be brief", ThinkingLevel: "high"}},
	}}
	if _, err := g.SubmitBatch(ctx, []gemini.BatchItem{item}, gemini.BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	inline := lastCreate(t, srv)["requests"].(map[string]any)["requests"].([]any)[0].(map[string]any)["request"]
	job, err := g.SubmitBatch(ctx, []gemini.BatchItem{item}, gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := srv.File(job.InputFile)
	var line struct {
		Key     string         `json:"key"`
		Request map[string]any `json:"request"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(data), &line); err != nil {
		t.Fatal(err)
	}
	if line.Key != "same" {
		t.Errorf("key %q", line.Key)
	}
	if !reflect.DeepEqual(line.Request, inline) {
		a, _ := json.Marshal(line.Request)
		b, _ := json.Marshal(inline)
		t.Errorf("file request\n%s\ninline request\n%s", a, b)
	}
	gc, _ := line.Request["generationConfig"].(map[string]any)
	if gc["imageConfig"] == nil || gc["seed"] == nil || line.Request["systemInstruction"] == nil {
		t.Errorf("request lacks the config: %v", line.Request)
	}
}

func TestBatchFileResultsDownloadFailureIsTyped(t *testing.T) {
	t.Parallel()
	_, g, clk := batchSetup(t, time.Hour)
	ctx := context.Background()
	job, err := g.SubmitBatch(ctx, items("a"), gemini.BatchOptions{UseFile: true})
	if err != nil {
		t.Fatal(err)
	}
	done, err := g.WaitBatch(ctx, job.Name, gemini.WaitOptions{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Client().Files.Delete(ctx, done.ResultsFile, nil); err != nil {
		t.Fatal(err)
	}
	_, err = g.BatchResults(done)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.StatusCode != 403 || pe.Kind == provider.KindUnknown || strings.Contains(err.Error(), testKey) {
		t.Errorf("err = %#v", err)
	}
}

func TestBatchFileUploadFailureIsTyped(t *testing.T) {
	t.Parallel()
	srv, g, _ := batchSetup(t, time.Hour)
	srv.Inject(providertest.EndpointFileUpload, providertest.Unavailable())
	_, err := g.SubmitBatch(context.Background(), items("a"), gemini.BatchOptions{UseFile: true})
	if !errors.Is(err, provider.ErrUnavailable) || provider.KindOf(err) != provider.KindUnavailable {
		t.Errorf("err = %v", err)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointBatchCreate]; n != 0 {
		t.Errorf("%d jobs created", n)
	}
}

func TestBatchFileNotOnVertex(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	srv := providertest.NewServer(providertest.Options{APIKey: testKey})
	defer srv.Close()
	g, err := gemini.New(context.Background(), gemini.Config{Backend: gemini.BackendVertex, APIKey: testKey, BaseURL: srv.URL(), HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.SubmitBatch(context.Background(), items("a"), gemini.BatchOptions{UseFile: true}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("err = %v", err)
	}
	if len(srv.Requests()) != 0 {
		t.Error("a request was sent")
	}
}
