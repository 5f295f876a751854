package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestTransportRecordsAndRewrites(t *testing.T) {
	t.Parallel()
	var gotAuth, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey = r.Header.Get("Authorization"), r.Header.Get("X-Goog-Api-Key")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	c := Client(srv.Client(), func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+r.Header.Get("X-Goog-Api-Key"))
		r.Header.Del("X-Goog-Api-Key")
	}, Limits{})
	ctx, rec := WithRecord(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	req.Header.Set("X-Goog-Api-Key", "k1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotAuth != "Bearer k1" || gotKey != "" {
		t.Errorf("server saw Authorization=%q x-goog-api-key=%q", gotAuth, gotKey)
	}
	if req.Header.Get("X-Goog-Api-Key") != "k1" {
		t.Error("the caller's request was modified")
	}
	status, h := rec.Last()
	if status != 429 || h.Get("Retry-After") != "7" || rec.Calls() != 1 {
		t.Errorf("record = %d %v calls=%d", status, h, rec.Calls())
	}
}

func TestFilterSeesAndReplacesBody(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("original"))
	}))
	defer srv.Close()
	c := Client(srv.Client(), nil, Limits{})
	ctx, rec := WithRecord(context.Background())
	rec.SetFilter(func(resp *http.Response) error {
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader("filtered"))
		return nil
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "filtered" {
		t.Fatalf("body %q", b)
	}
	boom := errors.New("boom")
	ctx, rec = WithRecord(context.Background())
	rec.SetFilter(func(*http.Response) error { return boom })
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := c.Do(req); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if status, _ := rec.Last(); status != 200 || rec.Calls() != 1 {
		t.Fatalf("record %d %d", status, rec.Calls())
	}
}

// bodyServer answers status with size bytes of 'a', optionally gzipped
// (unasked) and with or without a Content-Length; it reports how many
// bytes it managed to write and whether a write failed (the client closed
// the connection).
func bodyServer(t *testing.T, status int, size int64, gz, withLength bool) (*httptest.Server, chan int64) {
	written := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		defer func() { written <- n }()
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		var out io.Writer = w
		var zw *gzip.Writer
		if gz {
			w.Header().Set("Content-Encoding", "gzip")
			zw = gzip.NewWriter(w)
			out = zw
		} else if withLength {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(status)
		for n < size {
			c := chunk[:min(int64(len(chunk)), size-n)]
			if _, err := out.Write(c); err != nil {
				return
			}
			n += int64(len(c))
		}
		if zw != nil {
			_ = zw.Close()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, written
}

func TestLimits(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	tests := []struct {
		name             string
		status           int
		size             int64
		gz, withLength   bool
		wantErr, wantCut bool
		wantRead         int64
	}{
		{"small 200", 200, 1000, false, true, false, false, 1000},
		{"exactly the cap", 200, limit, false, false, false, false, limit},
		{"announced too large", 200, 1 << 40, false, true, true, false, 0},
		{"chunked too large", 200, 1 << 40, false, false, true, false, limit},
		{"gzip bomb", 200, 1 << 40, true, false, true, false, limit},
		{"huge error body", 500, 1 << 40, false, false, false, true, limit / 4},
		{"gzipped error body", 429, 1 << 40, true, false, false, true, limit / 4},
		{"small error body", 429, 100, false, true, false, false, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, written := bodyServer(t, tt.status, tt.size, tt.gz, tt.withLength)
			hc := srv.Client()
			hc.Transport.(*http.Transport).DisableCompression = true // gzip arrives unasked
			c := Client(hc, nil, Limits{Success: limit, Error: limit / 4})
			ctx, rec := WithRecord(context.Background())
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := c.Do(req)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, ErrTooLarge)) {
				t.Fatalf("err = %v, want too large: %v", err, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(rec.Err(), ErrTooLarge) {
				t.Errorf("rec.Err() = %v", rec.Err())
			}
			if n != tt.wantRead && !(tt.wantErr && n == 0) {
				t.Errorf("read %d bytes, want %d", n, tt.wantRead)
			}
			if rec.Cut() != tt.wantCut {
				t.Errorf("Cut() = %v", rec.Cut())
			}
			if tt.size > 1<<30 {
				// The server's writes fail: the connection was closed,
				// not drained.
				if w := <-written; w >= tt.size {
					t.Errorf("server wrote all %d bytes", w)
				}
			}
		})
	}
}
