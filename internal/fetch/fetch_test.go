package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imagegen-go/imagegen/internal/fetch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pngBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type counter struct{ n atomic.Int32 }

func serve(t *testing.T, h http.HandlerFunc) (*httptest.Server, *counter) {
	c := &counter{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

func image200(ct string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		_, _ = w.Write(body)
	}
}

func reason(t *testing.T, err error, want fetch.Reason) *fetch.Error {
	t.Helper()
	var fe *fetch.Error
	if !errors.As(err, &fe) || fe.Reason != want {
		t.Fatalf("err = %v, want reason %v", err, want)
	}
	return fe
}

var open = fetch.Policy{AllowHTTP: true, AllowPrivate: true}

func TestLoopbackRefusedWithoutARequest(t *testing.T) {
	t.Parallel()
	srv, c := serve(t, image200("image/png", pngBytes(t)))
	for _, p := range []fetch.Policy{{}, {AllowHTTP: true}} {
		_, err := fetch.New(p).Fetch(context.Background(), srv.URL+"/a.png?token=secret")
		fe := reason(t, err, fetch.ReasonBlocked)
		if !errors.Is(err, fetch.ErrBlocked) || strings.Contains(err.Error(), "secret") {
			t.Errorf("err %v", err)
		}
		_ = fe
	}
	// A name that resolves to loopback is refused on the dialled address.
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
	_, err := fetch.New(fetch.Policy{AllowHTTP: true}).Fetch(context.Background(), "http://localhost"+port+"/a.png")
	reason(t, err, fetch.ReasonBlocked)
	if c.n.Load() != 0 {
		t.Fatalf("server saw %d requests", c.n.Load())
	}
	res, err := fetch.New(open).Fetch(context.Background(), srv.URL+"/a.png")
	if err != nil || res.MIMEType != "image/png" || c.n.Load() != 1 {
		t.Fatalf("res %v err %v", res, err)
	}
}

// The dial-time check judges every hop: 127.0.0.1 plays a public host and
// 127.0.0.2 a private one.
func TestRedirectToPrivateRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("no 127.0.0.2:", err)
	}
	var privHits atomic.Int32
	priv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		privHits.Add(1)
		image200("image/png", pngBytes(t))(w, r)
	})}}
	priv.Start()
	t.Cleanup(priv.Close)
	pub, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, priv.URL+"/x.png", http.StatusFound) })
	p := fetch.Policy{AllowHTTP: true, AddrCheck: func(a netip.Addr) error {
		if a == netip.MustParseAddr("127.0.0.2") {
			return errors.New("private")
		}
		return nil
	}}
	_, err = fetch.New(p).Fetch(context.Background(), pub.URL+"/start")
	reason(t, err, fetch.ReasonBlocked)
	if privHits.Load() != 0 {
		t.Fatalf("the private server saw %d requests", privHits.Load())
	}
}

func TestRedirectToHTTPRefused(t *testing.T) {
	t.Parallel()
	plain, c := serve(t, image200("image/png", pngBytes(t)))
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/x.png", http.StatusMovedPermanently)
	}))
	t.Cleanup(tlsSrv.Close)
	tr := tlsSrv.Client().Transport.(*http.Transport)
	_, err := fetch.New(fetch.Policy{AllowPrivate: true, TLSConfig: tr.TLSClientConfig}).Fetch(context.Background(), tlsSrv.URL+"/start")
	reason(t, err, fetch.ReasonBlocked)
	if c.n.Load() != 0 {
		t.Fatal("the http target was fetched")
	}
}

func TestTooManyRedirects(t *testing.T) {
	t.Parallel()
	var srv *httptest.Server
	srv, _ = serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, srv.URL+"/again", http.StatusFound) })
	_, err := fetch.New(open).Fetch(context.Background(), srv.URL)
	reason(t, err, fetch.ReasonBlocked)
}

func TestSizeCap(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	withLen, _ := serve(t, image200("image/png", img))
	chunked, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img[:10])
		w.(http.Flusher).Flush() // no Content-Length
		_, _ = w.Write(img[10:])
	})
	p := open
	p.MaxBytes = int64(len(img) - 1)
	for _, u := range []string{withLen.URL, chunked.URL} {
		_, err := fetch.New(p).Fetch(context.Background(), u)
		reason(t, err, fetch.ReasonTooLarge)
	}
	p.MaxBytes = int64(len(img)) // exactly the cap is fine
	if _, err := fetch.New(p).Fetch(context.Background(), chunked.URL); err != nil {
		t.Fatal(err)
	}
}

func TestContentType(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	tests := []struct {
		name, ct string
		body     []byte
		reason   fetch.Reason
		mismatch bool
	}{
		{"png", "image/png", img, 0, false},
		{"octet-stream", "application/octet-stream", img, 0, false},
		{"no type", "", img, 0, false},
		{"other image type", "image/jpeg; charset=binary", img, 0, true},
		{"html label", "text/html", img, fetch.ReasonNotImage, false},
		{"html body", "image/png", []byte("<html>nope</html>"), fetch.ReasonNotImage, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = []string{tt.ct}
				_, _ = w.Write(tt.body)
			})
			res, err := fetch.New(open).Fetch(context.Background(), srv.URL)
			if tt.reason != 0 {
				reason(t, err, tt.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.MIMEType != "image/png" || res.Mismatch() != tt.mismatch {
				t.Errorf("%+v mismatch %v", res.MIMEType, res.Mismatch())
			}
		})
	}
}

func TestStatusAndTimeout(t *testing.T) {
	t.Parallel()
	missing, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	_, err := fetch.New(open).Fetch(context.Background(), missing.URL)
	if fe := reason(t, err, fetch.ReasonStatus); fe.StatusCode != 404 {
		t.Errorf("%+v", fe)
	}
	slow, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	p := open
	p.Timeout = 50 * time.Millisecond
	_, err = fetch.New(p).Fetch(context.Background(), slow.URL)
	reason(t, err, fetch.ReasonTimeout)
}

func TestDataURI(t *testing.T) {
	t.Parallel()
	img := pngBytes(t)
	uri := "data:image/png;base64," + base64Std(img)
	res, err := fetch.New(fetch.Policy{}).Fetch(context.Background(), uri)
	if err != nil || !bytes.Equal(res.Data, img) {
		t.Fatalf("%v %v", res, err)
	}
	_, err = fetch.New(fetch.Policy{MaxBytes: 10}).Fetch(context.Background(), uri)
	reason(t, err, fetch.ReasonTooLarge)
	_, err = fetch.New(fetch.Policy{}).Fetch(context.Background(), "data:text/plain;base64,aGVsbG8=")
	reason(t, err, fetch.ReasonNotImage)
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/x.png", "javascript:alert(1)", "/relative.png"} {
		_, err = fetch.New(open).Fetch(context.Background(), u)
		reason(t, err, fetch.ReasonBlocked)
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for addr, blocked := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true, "169.254.169.254": true,
		"100.100.100.200": true, "0.0.0.0": true, "255.255.255.255": true, "224.0.0.1": true,
		"::1": true, "fe80::1": true, "fd00::1": true, "::": true, "::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true,
		"64:ff9b::a00:1": true, "8.8.8.8": false, "1.1.1.1": false, "2606:4700:4700::1111": false, "64:ff9b::808:808": false,
	} {
		err := fetch.CheckAddr(netip.MustParseAddr(addr))
		if (err != nil) != blocked {
			t.Errorf("%s: err %v, want blocked %v", addr, err, blocked)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:pw@cdn.example.com/a/b.png?X-Amz-Signature=abc#f": "https://cdn.example.com/a/b.png",
		"data:image/png;base64,AAAA":                                    "data:image/png;base64,…(4 chars)",
	} {
		if got := fetch.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// A body shorter than its Content-Length is a transport failure, and one
// of exactly its length is read into one buffer of that size.
func TestDeclaredLength(t *testing.T) {
	img := pngBytes(t)
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4096")
		_, _ = w.Write(img)
	})
	_, err := fetch.New(fetch.Policy{AllowHTTP: true, AllowPrivate: true}).Fetch(context.Background(), srv.URL)
	reason(t, err, fetch.ReasonTransport)
	exact, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(img)))
		_, _ = w.Write(img)
	})
	res, err := fetch.New(fetch.Policy{AllowHTTP: true, AllowPrivate: true}).Fetch(context.Background(), exact.URL)
	if err != nil || !bytes.Equal(res.Data, img) || cap(res.Data) != len(img) {
		t.Fatalf("%v: %d bytes, cap %d", err, len(res.Data), cap(res.Data))
	}
}
