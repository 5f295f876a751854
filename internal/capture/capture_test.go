package capture

import (
	"context"
	"net/http"
	"net/http/httptest"
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
