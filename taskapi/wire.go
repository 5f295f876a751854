package taskapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"time"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/provider"
)

// State is where a task stands, the same whichever service runs it.
type State string

// The task states. StatePending and StateRunning are not final; the
// others are.
const (
	StatePending   State = "pending"   // accepted, waiting or queued (Kie waiting/queuing, Replicate starting, APIMart pending)
	StateRunning   State = "running"   // generating (Kie generating, Replicate and APIMart processing)
	StateSucceeded State = "succeeded" // done; its results can be downloaded until they expire
	StateFailed    State = "failed"    // the service gave up (Kie fail, Replicate failed, APIMart failed)
	StateCanceled  State = "canceled"  // cancelled or stopped at its deadline (Replicate canceled and aborted, APIMart cancelled)
)

// Done reports whether the state is final.
func (s State) Done() bool { return s == StateSucceeded || s == StateFailed || s == StateCanceled }

// record is what a service said about one task.
type record struct {
	id       string
	state    State
	status   string   // the service's own word ("queuing", "processing", ...)
	urls     []string // result links, once succeeded
	err      error    // why it failed or was cancelled: a *provider.Error with the service's words
	cost     provider.USD
	hasCost  bool
	images   int           // images billed, when the service says
	created  time.Time     // the service's timestamps, when it gives them
	done     time.Time     //
	coarse   bool          // the timestamps are whole seconds (APIMart): too coarse to learn durations from
	expires  time.Time     // when the result links stop working, when known
	estimate time.Duration // the service's estimate of the task's whole duration (APIMart)
	removed  bool          // the service deleted the results (Replicate data_removed)
	raw      []byte        // the record as the service sent it (kept small: links and words)
}

// submission is one task to create.
type submission struct {
	plan    *plan
	remote  string
	input   map[string]any
	count   int
	idemKey string        // APIMart's Idempotency-Key
	webhook string        // callback URL, "" for none
	sync    time.Duration // Replicate's Prefer: wait=N; 0 = off
	cancel  time.Duration // Replicate's Cancel-After; 0 = none
	taken   *idSet        // the request's task IDs, which a lookup must not claim again
}

// wire is one service's protocol.
type wire interface {
	// submit creates one task. The record is final when the service
	// answered in sync mode.
	submit(ctx context.Context, s *submission) (*record, error)
	// get reads a task's record.
	get(ctx context.Context, model, id string) (*record, error)
	// cancel asks the service to stop a task; errCancelUnsupported when it
	// cannot.
	cancel(ctx context.Context, model, id string) error
	// upload makes a reference image reachable by URL for a task.
	upload(ctx context.Context, model string, r ref, i int) (string, error)
	// find looks up the task a submit may have created since t, after an
	// answer was lost; errNoLookup when the service cannot.
	find(ctx context.Context, s *submission, since time.Time) (*record, error)
	// parseCallback reads a verified callback body into a record; nil when
	// the body cannot be trusted on its own (the task is read again).
	parseCallback(model string, body []byte) *record
	// download fetches one result link.
	download(ctx context.Context, model, url string) ([]byte, string, error)
}

var (
	errCancelUnsupported = errors.New("the service has no way to cancel a task")
	errNoLookup          = errors.New("the service has no way to look a task up")
)

// exchange is one HTTP answer, read whole (the transport caps it).
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the service with the key and reads the answer
// under the caps: successful answers at Config.MaxResponseBytes, error
// answers at 1 MiB. A call that got no readable answer is a
// *provider.Error; any answer, whatever its status, is returned for the
// service's code to judge.
func (g *Generator) do(ctx context.Context, model, method, url string, body io.Reader, header http.Header) (*exchange, error) {
	ctx, rec := capture.WithRecord(ctx)
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: model, Message: "building the request: " + g.secrets.Redact(err.Error())}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, g.transportError(ctx, model, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		var tl *capture.TooLargeError
		if errors.As(err, &tl) || errors.As(rec.Err(), &tl) {
			e := answer.Error(answer.CodeTooLarge, tl.Error(), resp.StatusCode)
			e.Provider, e.Model = g.name, model
			return nil, e
		}
		return nil, g.transportError(ctx, model, err)
	}
	return &exchange{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// jsonBody encodes v for a request.
func jsonBody(v any) (io.Reader, http.Header, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, nil
}

// multipartBody encodes one file part and text fields.
func multipartBody(field, filename, mimeType string, data []byte, fields map[string]string) (io.Reader, http.Header) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="`+field+`"; filename="`+filename+`"`)
	h.Set("Content-Type", mimeType)
	part, _ := w.CreatePart(h)
	_, _ = part.Write(data)
	_ = w.Close()
	return &b, http.Header{"Content-Type": {w.FormDataContentType()}}
}

// decodeObject decodes a successful answer that must be a JSON object.
func decodeObject(data []byte, out any) error {
	if err := answer.CheckObject(data); err != nil {
		return err
	}
	_, err := answer.Guard(func() (struct{}, error) { return struct{}{}, json.Unmarshal(data, out) })
	return err
}

// extension returns a file name extension for a MIME type.
func extension(mimeType string) string {
	switch mimeType {
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	case "image/gif":
		return ".gif"
	}
	return ".png"
}

// unixMillis converts Kie's millisecond timestamps.
func unixMillis(ms int64) time.Time {
	if ms <= 0 || ms > 1e15 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// unixSeconds converts APIMart's and the callbacks' second timestamps.
func unixSeconds(s int64) time.Time {
	if s <= 0 || s > 1e12 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
