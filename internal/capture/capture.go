// Package capture is an http.RoundTripper that lets an adapter see what its
// SDK hides: the status and headers of the response behind an error
// (Retry-After, x-ratelimit-*), and a place to rewrite auth headers for
// relays that want Authorization: Bearer instead of the SDK's own header.
//
// It also bounds what an answer may cost before any SDK reads it (Limits):
// a successful body is capped after decompression, and an error body is
// cut; past a cap the body is closed without being drained, which closes
// the connection.
package capture

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	err        error // the first error the transport raised itself
	cut        bool  // an error body was cut at Limits.Error
}

// Err returns the first error the transport itself raised for a request
// carrying this record (a body over its cap, a filter's error), which SDKs
// may have wrapped out of reach: adapters classify it from here.
func (r *Record) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Cut reports whether the last error answer's body was longer than
// Limits.Error and was cut.
func (r *Record) Cut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut
}

func (r *Record) fail(err error) error {
	if r != nil {
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
	return err
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

// ErrTooLarge is matched (errors.Is) by the error of an answer whose body
// is larger than Limits.Success allows.
var ErrTooLarge = errors.New("answer too large")

// TooLargeError is an answer body over its cap.
type TooLargeError struct {
	Limit      int64 // the cap, in bytes after decompression
	StatusCode int
	Announced  int64 // the Content-Length that announced it, or -1 when found by reading
}

// Error says how large the answer was allowed to be.
func (e *TooLargeError) Error() string {
	if e.Announced >= 0 {
		return fmt.Sprintf("answer of %d bytes is larger than the %d-byte cap (MaxResponseBytes)", e.Announced, e.Limit)
	}
	return fmt.Sprintf("answer larger than the %d-byte cap (MaxResponseBytes)", e.Limit)
}

// Is reports whether target is ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// Limits bound the bodies of answers. A zero field means no bound.
type Limits struct {
	// Success caps a 2xx body, in bytes after decompression: beyond it,
	// reading fails with a *TooLargeError and the body is closed.
	Success int64
	// Error is how much of a non-2xx body is read: the rest is not read,
	// the body is closed, and the reader sees the end of the body there
	// (Record.Cut reports it).
	Error int64
}

// Transport wraps Base (http.DefaultTransport when nil).
type Transport struct {
	Base http.RoundTripper
	// Rewrite, when set, edits the headers of every outgoing request, e.g.
	// to swap the SDK's x-goog-api-key for Authorization: Bearer. It is
	// given a copy of the request whose Header is its own (the rest is
	// shared: Rewrite must change nothing else).
	Rewrite func(*http.Request)
	// Limits bound every answer's body, before any filter or SDK reads it.
	Limits Limits
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Rewrite != nil {
		// A copy with its own headers, not req.Clone (which also copies
		// the URL, trailers and the rest): a fifth of what a small
		// answer allocated in openaicompat's benchmark.
		r := *req
		r.Header = req.Header.Clone()
		req = &r
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
		// The record keeps the headers as they came: limit gives the
		// response a copy of its own before it edits them.
		rec.mu.Lock()
		rec.statusCode, rec.header = resp.StatusCode, resp.Header
		filter = rec.filter
		rec.mu.Unlock()
	}
	if err == nil && resp != nil && resp.Body != nil {
		if lerr := t.limit(resp, rec); lerr != nil {
			_ = resp.Body.Close()
			return nil, rec.fail(lerr)
		}
	}
	if filter != nil && err == nil {
		if ferr := filter(resp); ferr != nil {
			_ = resp.Body.Close()
			return nil, rec.fail(ferr)
		}
	}
	return resp, err
}

// limit decodes a gzip or deflate body the base transport left encoded
// (it decodes only what it asked for itself) and wraps the body in its
// cap, so that every cap counts decoded bytes.
func (t *Transport) limit(resp *http.Response, rec *Record) error {
	if t.Limits == (Limits{}) {
		return nil
	}
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "gzip", "x-gzip", "deflate":
		resp.Body = &decoded{src: resp.Body, deflate: enc == "deflate"}
		resp.Header = resp.Header.Clone() // the record keeps the original
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode <= 299
	switch {
	case ok && t.Limits.Success > 0:
		if resp.ContentLength > t.Limits.Success {
			return &TooLargeError{Limit: t.Limits.Success, StatusCode: resp.StatusCode, Announced: resp.ContentLength}
		}
		resp.Body = &capped{src: resp.Body, left: t.Limits.Success, rec: rec, fails: true, status: resp.StatusCode}
	case !ok && t.Limits.Error > 0 && (resp.ContentLength < 0 || resp.ContentLength > t.Limits.Error):
		resp.Body = &capped{src: resp.Body, left: t.Limits.Error, rec: rec}
		if resp.ContentLength > t.Limits.Error {
			resp.ContentLength = -1
			resp.Header = resp.Header.Clone() // the record keeps the original
			resp.Header.Del("Content-Length")
		}
	}
	return nil
}

// capped reads at most left bytes of src. One byte more ends the read:
// with fails set it fails with a *TooLargeError (limit being the bytes it
// was given); without, it cuts the body there (the reader sees EOF) and
// marks the record. Either way src is closed at once, undrained, which
// closes the connection.
type capped struct {
	src    io.ReadCloser
	left   int64
	rec    *Record
	fails  bool
	status int // for the TooLargeError
	read   int64
	err    error
}

func (c *capped) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.src.Read(p)
	if int64(n) > c.left {
		n = int(c.left)
		limit := c.read + c.left
		c.left = 0
		_ = c.src.Close()
		if c.fails {
			c.err = c.rec.fail(&TooLargeError{Limit: limit, StatusCode: c.status, Announced: -1})
		} else {
			c.err = io.EOF
			if c.rec != nil {
				c.rec.mu.Lock()
				c.rec.cut = true
				c.rec.mu.Unlock()
			}
		}
		return n, c.err
	}
	c.left -= int64(n)
	c.read += int64(n)
	return n, err
}

func (c *capped) Close() error { return c.src.Close() }

// decoded decompresses src, starting on the first Read so that a body
// nobody reads is never touched.
type decoded struct {
	src     io.ReadCloser
	deflate bool
	r       io.Reader
	err     error
}

func (d *decoded) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		if d.deflate {
			d.r = flate.NewReader(d.src)
		} else {
			zr, err := gzip.NewReader(d.src)
			if err != nil {
				d.err = fmt.Errorf("capture: gzip body: %w", err)
			} else {
				d.r = zr
			}
		}
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

func (d *decoded) Close() error { return d.src.Close() }

// Client returns a copy of c (or of a zero http.Client) whose transport is
// wrapped in a Transport with the given rewrite and limits.
func Client(c *http.Client, rewrite func(*http.Request), limits Limits) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	}
	out.Transport = &Transport{Base: out.Transport, Rewrite: rewrite, Limits: limits}
	return &out
}
