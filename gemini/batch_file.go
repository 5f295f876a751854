package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/googleauth"
	"github.com/imagegen-go/imagegen/internal/googleerr"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// BatchFileMIMEType is the MIME type SubmitBatch uploads a JSONL input file
// with, unless BatchOptions.FileMIMEType says otherwise. Google's examples
// use "jsonl", which the service has at times refused ("Unsupported MIME
// type"); BatchOptions.FileMIMEType is the way out if it refuses this one.
const BatchFileMIMEType = "application/jsonl"

// batchJSONL writes the input file of a job: one
// {"key": ..., "request": {GenerateContentRequest}} per item. Each request
// is the JSON genai sends for the same InlinedRequest in an inline job,
// obtained by letting genai encode it for a transport that keeps the body
// and goes nowhere, so both paths send identical requests.
func (g *Generator) batchJSONL(ctx context.Context, model string, keys []string, reqs []*genai.InlinedRequest) ([]byte, error) {
	wire := &wireCapture{}
	dry, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      "wire-capture",
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  &http.Client{Transport: wire},
		HTTPOptions: genai.HTTPOptions{BaseURL: "http://genai-wire.invalid/", APIVersion: googleauth.GeminiAPIVersion},
	})
	if err != nil {
		return nil, g.invalid(model, "BatchItems: cannot encode requests: %v", err)
	}
	var buf bytes.Buffer
	for i, r := range reqs {
		raw, err := wire.request(ctx, dry, model, r)
		if err != nil {
			return nil, g.invalid(model, "BatchItems[%d] (%s): cannot encode the request: %v", i, keys[i], err)
		}
		// {"key":...,"request":...} by hand: genai's JSON is compact, and
		// re-encoding megabytes of base64 costs. A line must stay one line.
		if bytes.ContainsAny(raw, "\r\n") {
			var c bytes.Buffer
			if err := json.Compact(&c, raw); err != nil {
				return nil, g.invalid(model, "BatchItems[%d] (%s): cannot encode the request: %v", i, keys[i], err)
			}
			raw = c.Bytes()
		}
		key, _ := json.Marshal(keys[i])
		buf.WriteString(`{"key":`)
		buf.Write(key)
		buf.WriteString(`,"request":`)
		buf.Write(raw)
		buf.WriteString("}\n")
	}
	return buf.Bytes(), nil
}

// wireCapture is a transport that keeps the body of the request it is
// given and answers it with an empty batch job.
type wireCapture struct{ body []byte }

func (w *wireCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	var err error
	if r.Body != nil {
		w.body, err = io.ReadAll(r.Body)
		_ = r.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Request: r,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   io.NopCloser(strings.NewReader(`{"name":"batches/wire-capture"}`))}, nil
}

// request returns the wire JSON of one inlined request.
func (w *wireCapture) request(ctx context.Context, dry *genai.Client, model string, r *genai.InlinedRequest) (json.RawMessage, error) {
	w.body = nil
	if _, err := dry.Batches.Create(ctx, model, &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{r}}, nil); err != nil {
		return nil, err
	}
	var sent struct {
		Batch struct {
			InputConfig struct {
				Requests struct {
					Requests []struct {
						Request json.RawMessage `json:"request"`
					} `json:"requests"`
				} `json:"requests"`
			} `json:"inputConfig"`
		} `json:"batch"`
	}
	if err := json.Unmarshal(w.body, &sent); err != nil {
		return nil, err
	}
	if rs := sent.Batch.InputConfig.Requests.Requests; len(rs) == 1 && len(rs[0].Request) > 0 {
		return rs[0].Request, nil
	}
	return nil, fmt.Errorf("genai sent no request")
}

// submitFile uploads the job's requests as a JSONL file and creates the
// job from it.
func (g *Generator) submitFile(ctx context.Context, model string, keys []string, reqs []*genai.InlinedRequest, opts BatchOptions) (*BatchJob, error) {
	if g.cfg.Backend == BackendVertex {
		return nil, g.invalid(model, "BatchItems: a file job (BatchOptions.UseFile, or requests of 20 MB or more) needs the Gemini API's Files API; Vertex AI batch jobs read their input from Cloud Storage or BigQuery, which this package does not do: split the job")
	}
	data, err := g.batchJSONL(ctx, model, keys, reqs)
	if err != nil {
		return nil, err
	}
	mt := opts.FileMIMEType
	if mt == "" {
		mt = BatchFileMIMEType
	}
	display := opts.DisplayName
	if display == "" {
		display = "imagegen batch input"
	}
	uctx, rec := capture.WithRecord(ctx)
	f, err := answer.Guard(func() (*genai.File, error) {
		return g.client.Files.Upload(uctx, bytes.NewReader(data), &genai.UploadFileConfig{MIMEType: mt, DisplayName: display})
	})
	if err != nil {
		return nil, g.filesError(uctx, model, err, rec, nil)
	}
	cctx, rec := capture.WithRecord(ctx)
	job, err := answer.Guard(func() (*genai.BatchJob, error) {
		return g.client.Batches.Create(cctx, model, &genai.BatchJobSource{FileName: f.Name}, &genai.CreateBatchJobConfig{DisplayName: opts.DisplayName})
	})
	if err != nil {
		err = g.mapError(cctx, model, err, rec)
		var pe *provider.Error
		if errors.As(err, &pe) {
			c := *pe
			c.Message += fmt.Sprintf(" (the input was uploaded as %s; the Files API deletes it after 48 hours)", f.Name)
			err = &c
		}
		return nil, err
	}
	out := g.batchJob(job)
	out.keys = keys
	out.InputFile = f.Name
	return out, nil
}

// filesError types a Files API failure. genai flattens the error of an
// upload's first call into a string and returns a download's error body as
// if it were the file, so the status the transport saw decides.
func (g *Generator) filesError(ctx context.Context, model string, err error, rec *capture.Record, body []byte) error {
	status, _ := rec.Last()
	if status >= 400 {
		if len(body) == 0 && err != nil {
			body = []byte(err.Error())
			if i := bytes.IndexByte(body, '{'); i >= 0 {
				body = body[i:]
			}
		}
		ae := genai.APIError{Code: status, Message: textutil.Truncate(g.redact.Redact(strings.TrimSpace(string(body))), textutil.MaxMessage)}
		if code, st, msg, details, ok := googleerr.ParseBody(body); ok {
			ae = genai.APIError{Code: code, Status: st, Message: msg, Details: details}
		}
		if ae.Code == 0 {
			ae.Code = status
		}
		return g.mapError(ctx, model, ae, rec)
	}
	if err == nil {
		err = fmt.Errorf("HTTP %d", status)
	}
	return g.mapError(ctx, model, err, rec)
}

// fileResults downloads a job's responses file and reads its lines.
func (g *Generator) fileResults(ctx context.Context, job *BatchJob, name string) ([]BatchResult, error) {
	dctx, rec := capture.WithRecord(ctx)
	data, err := answer.Guard(func() ([]byte, error) {
		return g.client.Files.Download(dctx, genai.NewDownloadURIFromFile(&genai.File{Name: name, DownloadURI: name}), nil)
	})
	if status, _ := rec.Last(); err != nil || status >= 400 {
		return nil, g.filesError(dctx, job.Model, err, rec, data)
	}
	var results []BatchResult
	n := 0
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		results = append(results, g.fileResult(job.Model, n, line))
		n++
	}
	return results, nil
}

// fileResult reads one line of a responses file:
// {"key": ..., "response": {...}} or {"key": ..., "error": {google.rpc.Status}}.
// A line that cannot be read is that item's error.
func (g *Generator) fileResult(model string, i int, line []byte) BatchResult {
	var item struct {
		Key      json.RawMessage `json:"key"`
		Response json.RawMessage `json:"response"`
		Error    *struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	err := json.Unmarshal(line, &item)
	r := BatchResult{Key: lineKey(item.Key, i)}
	switch {
	case err != nil:
		r.Err = g.badLine(model, i, err)
	case item.Error != nil:
		code := item.Error.Code
		r.Err = g.itemError(model, &genai.JobError{Code: &code, Message: item.Error.Message})
	case len(item.Response) == 0 || string(item.Response) == "null":
		r.Err = g.badLine(model, i, fmt.Errorf("neither response nor error"))
	default:
		var resp genai.GenerateContentResponse
		if err := json.Unmarshal(item.Response, &resp); err != nil {
			r.Err = g.badLine(model, i, err)
			break
		}
		r.Response, r.Err = g.parse(model, &resp)
		if r.Response != nil {
			r.Response.Attempts = 1
		}
	}
	return r
}

func (g *Generator) badLine(model string, i int, err error) error {
	return &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model,
		Message: fmt.Sprintf("responses file line %d is unreadable: %s", i+1, g.redact.Clean(err.Error(), textutil.MaxDetail))}
}

// lineKey reads a line's key, a string (or, from other writers, a number);
// a line without one is known by its position.
func lineKey(raw json.RawMessage, i int) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	if t := strings.TrimSpace(string(raw)); t != "" && t != "null" && t[0] != '"' && t[0] != '{' && t[0] != '[' {
		return t
	}
	return strconv.Itoa(i)
}
