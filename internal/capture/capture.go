// Package capture is an http.RoundTripper that lets an adapter see what its
// SDK hides: the status and headers of the response behind an error
// (Retry-After, x-ratelimit-*), and a place to rewrite auth headers for
// relays that want Authorization: Bearer instead of the SDK's own header.
package capture

import (
	"context"
	"net/http"
	"sync"
)

// Record holds what the transport saw of the last response to a request
// whose context carries it.
type Record struct {
	mu         sync.Mutex
	statusCode int
	header     http.Header
	calls      int
	filter     func(*http.Response) error
}

// SetFilter makes the transport pass every response to a request carrying
// this record's context to f, after recording its status and headers and
// before handing it to the SDK. f may replace resp.Body (it must then
// close the original); an error from f closes the body and becomes the
// round trip's error. Adapters use it to decode large answers as they
// stream in (internal/jsonimg).
func (r *Record) SetFilter(f func(resp *http.Response) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.filter = f
}

// Last returns the status and headers of the last response seen, or 0 and
// nil when no response arrived.
func (r *Record) Last() (int, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusCode, r.header
}

// Calls returns how many requests were sent with this record's context,
// answered or not: the upstream calls an SDK made for one operation.
func (r *Record) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

type recordKey struct{}

// WithRecord returns a context that makes the transport fill a new Record.
func WithRecord(ctx context.Context) (context.Context, *Record) {
	r := &Record{}
	return context.WithValue(ctx, recordKey{}, r), r
}

// Transport wraps Base (http.DefaultTransport when nil).
type Transport struct {
	Base http.RoundTripper
	// Rewrite, when set, edits a clone of every outgoing request, e.g. to
	// swap the SDK's x-goog-api-key for Authorization: Bearer.
	Rewrite func(*http.Request)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Rewrite != nil {
		req = req.Clone(req.Context())
		t.Rewrite(req)
	}
	rec, _ := req.Context().Value(recordKey{}).(*Record)
	if rec != nil {
		rec.mu.Lock()
		rec.calls++
		rec.mu.Unlock()
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	var filter func(*http.Response) error
	if rec != nil && resp != nil {
		rec.mu.Lock()
		rec.statusCode, rec.header = resp.StatusCode, resp.Header.Clone()
		filter = rec.filter
		rec.mu.Unlock()
	}
	if filter != nil && err == nil {
		if ferr := filter(resp); ferr != nil {
			_ = resp.Body.Close()
			return nil, ferr
		}
	}
	return resp, err
}

// Client returns a copy of c (or of a zero http.Client) whose transport is
// wrapped in a Transport with the given rewrite.
func Client(c *http.Client, rewrite func(*http.Request)) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.Transport = &Transport{Base: out.Transport, Rewrite: rewrite}
	return &out
}
