package hostiletest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

// Fixed answers every request with its current answer, set by Set (200
// with an empty body until then), and counts the requests.
type Fixed struct {
	mu     sync.Mutex
	status int
	body   string
	header http.Header
	calls  int
}

// NewFixed starts a server answering with a new Fixed; the server closes
// when the test ends.
func NewFixed(t testing.TB) (*Fixed, *httptest.Server) {
	t.Helper()
	f := &Fixed{status: http.StatusOK}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// Set makes status, body and header the answer to every request from
// now on. The Content-Type is application/json unless header names one.
func (f *Fixed) Set(status int, body string, header http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body, f.header = status, body, header
}

// Calls returns how many requests the server answered.
func (f *Fixed) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// ServeHTTP answers with the current answer.
func (f *Fixed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	status, body, header := f.status, f.body, f.header
	f.calls++
	f.mu.Unlock()
	for k, vs := range header {
		w.Header()[k] = vs
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// AsError returns err as a *provider.Error, failing t when it is not one.
func AsError(t testing.TB, err error) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *provider.Error", err, err)
	}
	return pe
}

// Leaks reports whether s shows key: any 8 bytes of it, or the first
// escaped bytes of it query-escaped.
func Leaks(s, key string, escaped int) bool {
	for i := 0; i+8 <= len(key); i++ {
		if strings.Contains(s, key[i:i+8]) {
			return true
		}
	}
	return strings.Contains(s, url.QueryEscape(key)[:escaped])
}
