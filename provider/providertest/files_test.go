package providertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider/providertest"
)

func uploadJSONL(t *testing.T, c *genai.Client, content string) *genai.File {
	t.Helper()
	f, err := c.Files.Upload(context.Background(), strings.NewReader(content), &genai.UploadFileConfig{MIMEType: "application/jsonl", DisplayName: "batch input"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFilesUploadGetDownloadDelete(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	// Larger than genai's 8 MB chunk: a start call and two chunks.
	data := bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16+10)
	f, err := c.Files.Upload(ctx, bytes.NewReader(data), &genai.UploadFileConfig{MIMEType: "application/jsonl", DisplayName: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.Name, "files/") || f.MIMEType != "application/jsonl" || f.DisplayName != "big" ||
		f.SizeBytes == nil || *f.SizeBytes != int64(len(data)) || f.State != genai.FileStateActive || f.Source != genai.FileSourceUploaded {
		t.Fatalf("uploaded %+v", f)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointFileUpload]; n != 3 {
		t.Errorf("%d upload calls, want start + 2 chunks", n)
	}
	reqs := srv.Requests()
	start := reqs[0]
	if start.Header.Get("X-Goog-Upload-Protocol") != "resumable" || start.Header.Get("X-Goog-Upload-Command") != "start" ||
		start.Path != "/upload/v1beta/files" || start.Header.Get("X-Goog-Api-Key") != "REDACTED" {
		t.Errorf("start request %s %v", start.Path, start.Header)
	}
	if last := reqs[len(reqs)-1]; last.Header.Get("X-Goog-Upload-Command") != "upload, finalize" || last.Header.Get("X-Goog-Api-Key") != "REDACTED" {
		t.Errorf("last chunk %v", last.Header)
	}

	got, err := c.Files.Get(ctx, f.Name, nil)
	if err != nil || got.Name != f.Name || *got.SizeBytes != int64(len(data)) || got.Sha256Hash == "" {
		t.Fatalf("get: %v %+v", err, got)
	}
	if b, ok := srv.File(f.Name); !ok || !bytes.Equal(b, data) {
		t.Fatalf("Server.File: %v, %d bytes", ok, len(b))
	}
	// Only generated files are downloadable: an uploaded one has no
	// downloadUri, and :download is refused.
	if got.DownloadURI != "" {
		t.Errorf("uploaded file has downloadUri %q", got.DownloadURI)
	}
	// genai v1.79.1's Files.Download does not check the HTTP status: it
	// hands back the error body as the file's bytes, with a nil error.
	b, err := c.Files.Download(ctx, genai.NewDownloadURIFromFile(&genai.File{DownloadURI: f.Name}), nil)
	if err != nil || !bytes.Contains(b, []byte(`"status":"INVALID_ARGUMENT"`)) || !bytes.Contains(b, []byte("not downloadable")) {
		t.Fatalf("download of an uploaded file: %v, %.200s", err, b)
	}
	var ae genai.APIError
	if r := srv.Requests(); !strings.HasSuffix(r[len(r)-1].Path, ":download") || r[len(r)-1].RawQuery != "alt=media" {
		t.Errorf("download went to %s?%s", r[len(r)-1].Path, r[len(r)-1].RawQuery)
	}
	if _, err := c.Files.Delete(ctx, f.Name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Files.Get(ctx, f.Name, nil); !errors.As(err, &ae) || ae.Code != 403 {
		t.Errorf("after delete: %v", err)
	}
}

func TestFilesExpireAndNeedTheKey(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	f := uploadJSONL(t, c, "{}\n")
	bad := geminiClient(t, srv, "wrong-key", nil)
	if _, err := bad.Files.Upload(ctx, strings.NewReader("x"), &genai.UploadFileConfig{MIMEType: "text/plain"}); err == nil {
		t.Error("upload with a wrong key worked")
	}
	var ae genai.APIError
	if _, err := bad.Files.Get(ctx, f.Name, nil); !errors.As(err, &ae) || ae.Code != 400 {
		t.Errorf("get with a wrong key: %v", err)
	}
	clk.Advance(providertest.FileTTL)
	if _, err := c.Files.Get(ctx, f.Name, nil); !errors.As(err, &ae) || ae.Code != 403 {
		t.Errorf("after 48 h: %v", err)
	}
	if _, ok := srv.File(f.Name); ok {
		t.Error("File found an expired file")
	}
}

func TestBatchFileInput(t *testing.T) {
	clk := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	srv := newServer(t, providertest.Options{Clock: clk})
	c := geminiClient(t, srv, "test-key", nil)
	ctx := context.Background()
	in := uploadJSONL(t, c, strings.Join([]string{
		`{"key":"k1","request":{"contents":[{"role":"user","parts":[{"text":"a cat"}]}],"generationConfig":{"responseModalities":["IMAGE"]}}}`,
		`{"key":"k2","request":{"contents":[{"role":"user","parts":[{"text":"FAIL_ITEM a dog"}]}]}}`,
		``,
		`not json`,
	}, "\n"))
	job, err := c.Batches.Create(ctx, "gemini-3-pro-image", &genai.BatchJobSource{FileName: in.Name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Dest != nil && job.Dest.FileName != "" {
		t.Errorf("a responses file before the job ran: %+v", job.Dest)
	}
	if srv.Requests()[len(srv.Requests())-1].JSON["batch"].(map[string]any)["inputConfig"].(map[string]any)["fileName"] != in.Name {
		t.Error("fileName not sent")
	}
	clk.Advance(time.Minute)
	job, err = c.Batches.Get(ctx, job.Name, nil)
	if err != nil || job.State != genai.JobStateSucceeded || job.Dest == nil || !strings.HasPrefix(job.Dest.FileName, "files/") {
		t.Fatalf("%v %+v", err, job)
	}
	data, err := c.Files.Download(ctx, genai.NewDownloadURIFromFile(&genai.File{DownloadURI: job.Dest.FileName}), nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), data)
	}
	var first struct {
		Key      string                         `json:"key"`
		Response *genai.GenerateContentResponse `json:"response"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Key != "k1" || first.Response == nil {
		t.Fatalf("line 1: %v %s", err, lines[0][:min(len(lines[0]), 200)])
	}
	finalImage(t, first.Response)
	var second struct {
		Key   string `json:"key"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil || second.Key != "k2" || second.Error.Code != 13 {
		t.Errorf("line 2: %v %s", err, lines[1])
	}
	if !strings.Contains(lines[2], `"code":3`) {
		t.Errorf("line 3: %s", lines[2])
	}
	if job.Dest.FileName == in.Name {
		t.Error("responses written over the input")
	}

	// The REST docs download from the /download/ prefix.
	req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/download/v1beta/"+job.Dest.FileName+":download?alt=media", nil)
	req.Header.Set("x-goog-api-key", "test-key")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(raw, data) {
		t.Errorf("download prefix: %d, %d bytes", resp.StatusCode, len(raw))
	}
	meta, err := c.Files.Get(ctx, job.Dest.FileName, nil)
	if err != nil || meta.Source != genai.FileSourceGenerated || meta.DownloadURI == "" {
		t.Errorf("responses file %v %+v", err, meta)
	}
	// The download URI of a generated file works with genai too.
	if b, err := c.Files.Download(ctx, genai.NewDownloadURIFromFile(meta), nil); err != nil || !bytes.Equal(b, data) {
		t.Errorf("download by URI: %v", err)
	}

	var ae genai.APIError
	if _, err := c.Batches.Create(ctx, "gemini-3-pro-image", &genai.BatchJobSource{FileName: "files/missing"}, nil); !errors.As(err, &ae) || ae.Code != 403 {
		t.Errorf("missing input file: %v", err)
	}
	if n := srv.Stats().PerEndpoint[providertest.EndpointFileDownload]; n != 3 {
		t.Errorf("%d downloads", n)
	}
}
