package capture

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTransportRecordsAndRewrites(t *testing.T) {
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
	})
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("original"))
	}))
	defer srv.Close()
	c := Client(srv.Client(), nil)
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
