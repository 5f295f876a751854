// Package fetch downloads images that providers hand out as links, under a
// policy that keeps an adapter from being turned against its own network:
//
//   - only https (and data: URIs) unless AllowHTTP;
//   - no loopback, private, link-local, CGNAT, multicast or unspecified
//     addresses unless AllowPrivate. The check runs on the address actually
//     dialled (a net.Dialer Control hook), so it covers every DNS answer,
//     DNS rebinding and every redirect hop, not just the host name in the URL;
//   - redirects are re-checked for scheme and capped (MaxRedirects);
//   - the body is capped at MaxBytes (io.LimitReader with one byte more, to
//     tell "exactly the cap" from "over it");
//   - the whole download is bounded by Timeout;
//   - the bytes must be an image (provider.SniffMIME), and a Content-Type
//     header that names something else is refused.
//
// Environment proxies (HTTP_PROXY, HTTPS_PROXY) are ignored on purpose: the
// address check would otherwise see the proxy, not the image host.
package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imagegen-go/imagegen/internal/datauri"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// Defaults applied to zero Policy fields.
const (
	DefaultMaxBytes     = 50 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
)

// Policy says which links may be fetched. The zero value is the safe
// default: https only, public addresses only, 50 MiB, 30 s, 5 redirects.
type Policy struct {
	AllowHTTP    bool          // accept http:// links (and redirects to them)
	AllowPrivate bool          // accept loopback, private and link-local addresses
	MaxBytes     int64         // largest body accepted; 0 = DefaultMaxBytes
	Timeout      time.Duration // whole download, redirects included; 0 = DefaultTimeout
	MaxRedirects int           // 0 = DefaultMaxRedirects; negative = none followed
	TLSConfig    *tls.Config   // optional, e.g. to trust a test server's certificate
	// AddrCheck replaces CheckAddr as the judge of dialled addresses when
	// AllowPrivate is false (tests use it to treat one loopback address as
	// public and another as private).
	AddrCheck func(netip.Addr) error
}

// Reason classifies a failed fetch.
type Reason int

// The reasons a fetch fails.
const (
	ReasonBlocked   Reason = iota + 1 // the policy refused the scheme or address
	ReasonTooLarge                    // the body exceeds MaxBytes
	ReasonNotImage                    // the bytes (or the declared type) are not an image
	ReasonStatus                      // the server answered with a non-2xx status
	ReasonTransport                   // connection failed, reset or truncated
	ReasonTimeout                     // the download took longer than Timeout (or the context's deadline)
)

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonBlocked:
		return "blocked by policy"
	case ReasonTooLarge:
		return "too large"
	case ReasonNotImage:
		return "not an image"
	case ReasonStatus:
		return "bad status"
	case ReasonTransport:
		return "transport failure"
	case ReasonTimeout:
		return "timeout"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Error is a failed fetch. Its URL has no query string or user info, so
// signed links do not leak into logs.
type Error struct {
	Reason     Reason
	URL        string // Redact(url)
	StatusCode int    // ReasonStatus
	Detail     string
	Err        error
}

// Error describes the refused or failed download without its query string.
func (e *Error) Error() string {
	s := "fetch " + e.URL + ": " + e.Reason.String()
	if e.StatusCode != 0 {
		s += " (" + strconv.Itoa(e.StatusCode) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrBlocked is matched (errors.Is) by every refusal of the policy.
var ErrBlocked = errors.New("fetch: blocked by policy")

// Is makes a ReasonBlocked *Error match ErrBlocked.
func (e *Error) Is(target error) bool { return target == ErrBlocked && e.Reason == ReasonBlocked }

// Result is a downloaded image.
type Result struct {
	Data     []byte
	MIMEType string // sniffed from the bytes
	Declared string // the Content-Type (or data: type) the server gave, lower case, parameters dropped
}

// Mismatch reports whether the declared image type differs from the bytes.
func (r *Result) Mismatch() bool {
	return r.Declared != "" && r.Declared != r.MIMEType && strings.HasPrefix(r.Declared, "image/")
}

// Fetcher downloads under one Policy. It is safe for concurrent use.
type Fetcher struct {
	p      Policy
	client *http.Client
}

// New returns a Fetcher for p. It keeps no idle connections (downloads are
// rare, and nothing lingers after a call).
func New(p Policy) *Fetcher {
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxRedirects == 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	f := &Fetcher{p: p}
	dialer := &net.Dialer{Timeout: p.Timeout, KeepAlive: -1}
	if p.AddrCheck == nil {
		p.AddrCheck = CheckAddr
	}
	f.p = p
	if !p.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			return controlAddr(address, p.AddrCheck)
		}
	}
	tr := &http.Transport{
		Proxy:                  nil, // see the package doc
		DialContext:            dialer.DialContext,
		TLSClientConfig:        p.TLSConfig,
		TLSHandshakeTimeout:    p.Timeout,
		ResponseHeaderTimeout:  p.Timeout,
		DisableKeepAlives:      true,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if p.MaxRedirects < 0 || len(via) > p.MaxRedirects {
				return &Error{Reason: ReasonBlocked, URL: Redact(req.URL.String()), Detail: "too many redirects"}
			}
			if err := f.checkScheme(req.URL); err != nil {
				return err
			}
			return nil
		},
	}
	return f
}

// Policy returns the policy in force, defaults filled in.
func (f *Fetcher) Policy() Policy { return f.p }

// controlAddr runs after DNS resolution, on the address about to be dialled.
func controlAddr(address string, check func(netip.Addr) error) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return &Error{Reason: ReasonBlocked, URL: address, Detail: "unparseable address"}
	}
	if err := check(ip); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return &Error{Reason: ReasonBlocked, URL: address, Detail: err.Error()}
	}
	return nil
}

var extraBlocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT; some clouds' metadata services live here
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
}

// CheckAddr returns a ReasonBlocked *Error for addresses that are not
// public unicast: loopback, private (RFC 1918, fc00::/7), link-local
// (169.254/16 — cloud metadata — and fe80::/10), multicast, unspecified,
// CGNAT and reserved ranges. IPv4-mapped IPv6 addresses are checked as IPv4.
func CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	blocked := !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
	for _, p := range extraBlocked {
		if p.Contains(ip) {
			blocked = true
		}
	}
	if ip.Is6() && netip.MustParsePrefix("64:ff9b::/96").Contains(ip) {
		// NAT64: judge the embedded IPv4 address.
		b := ip.As16()
		return CheckAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if blocked {
		return &Error{Reason: ReasonBlocked, URL: ip.String(), Detail: "address " + ip.String() + " is not public (set AllowPrivate to allow it)"}
	}
	return nil
}

func (f *Fetcher) checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if f.p.AllowHTTP {
			return nil
		}
		return &Error{Reason: ReasonBlocked, URL: Redact(u.String()), Detail: "plain http is not allowed (set AllowHTTP to allow it)"}
	}
	return &Error{Reason: ReasonBlocked, URL: Redact(u.String()), Detail: "scheme " + strconv.Quote(u.Scheme) + " is not allowed"}
}

// Fetch downloads rawURL (https, http when allowed, or a data: URI) and
// checks that it is an image.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*Result, error) {
	rawURL = strings.TrimSpace(rawURL)
	if len(rawURL) >= 5 && strings.EqualFold(rawURL[:5], "data:") {
		return f.fromData(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, &Error{Reason: ReasonBlocked, URL: Redact(rawURL), Detail: "not an absolute URL"}
	}
	if err := f.checkScheme(u); err != nil {
		return nil, err
	}
	if !f.p.AllowPrivate {
		// Literal addresses fail here without a dial; names are checked
		// again, on every resolved address, by the dialer.
		if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
			if err := f.p.AddrCheck(ip); err != nil {
				var e *Error
				if errors.As(err, &e) {
					c := *e
					c.URL = Redact(rawURL)
					return nil, &c
				}
				return nil, &Error{Reason: ReasonBlocked, URL: Redact(rawURL), Detail: err.Error()}
			}
		} else if h := strings.ToLower(u.Hostname()); h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return nil, &Error{Reason: ReasonBlocked, URL: Redact(rawURL), Detail: "localhost is not public (set AllowPrivate to allow it)"}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, f.p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &Error{Reason: ReasonBlocked, URL: Redact(rawURL), Detail: "bad request"}
	}
	req.Header.Set("Accept", "image/*")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.transportError(ctx, rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, &Error{Reason: ReasonStatus, URL: Redact(rawURL), StatusCode: resp.StatusCode}
	}
	if resp.ContentLength > f.p.MaxBytes {
		return nil, &Error{Reason: ReasonTooLarge, URL: Redact(rawURL), Detail: fmt.Sprintf("Content-Length %d exceeds %d bytes", resp.ContentLength, f.p.MaxBytes)}
	}
	var data []byte
	if n := resp.ContentLength; n > 0 {
		// The length is known (and within MaxBytes): one buffer of that
		// size, where reading to EOF would grow a buffer to about twice it.
		data = make([]byte, n)
		_, err = io.ReadFull(resp.Body, data)
	} else {
		data, err = io.ReadAll(io.LimitReader(resp.Body, f.p.MaxBytes+1))
	}
	if err != nil {
		return nil, f.transportError(ctx, rawURL, err)
	}
	if int64(len(data)) > f.p.MaxBytes {
		return nil, &Error{Reason: ReasonTooLarge, URL: Redact(rawURL), Detail: fmt.Sprintf("body exceeds %d bytes", f.p.MaxBytes)}
	}
	return checkImage(rawURL, data, resp.Header.Get("Content-Type"))
}

func (f *Fetcher) fromData(raw string) (*Result, error) {
	// base64 is 4/3 of the bytes: refuse oversized payloads before decoding.
	if int64(len(raw)) > f.p.MaxBytes/3*4+1024 {
		return nil, &Error{Reason: ReasonTooLarge, URL: Redact(raw), Detail: fmt.Sprintf("data URI exceeds %d bytes", f.p.MaxBytes)}
	}
	mt, data, err := datauri.Decode(raw)
	if err != nil {
		return nil, &Error{Reason: ReasonNotImage, URL: Redact(raw), Detail: err.Error(), Err: err}
	}
	if int64(len(data)) > f.p.MaxBytes {
		return nil, &Error{Reason: ReasonTooLarge, URL: Redact(raw), Detail: fmt.Sprintf("data URI exceeds %d bytes", f.p.MaxBytes)}
	}
	return checkImage(raw, data, mt)
}

// genericTypes carry no claim about the bytes.
var genericTypes = map[string]bool{"": true, "application/octet-stream": true, "binary/octet-stream": true, "application/binary": true}

// checkImage sniffs the bytes and compares them with the declared type: the
// bytes must be an image, and a declared type must be an image type (or
// say nothing). A different image type is accepted with the sniffed type;
// Result.Mismatch reports it.
func checkImage(rawURL string, data []byte, declared string) (*Result, error) {
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(declared))
	}
	sniffed := provider.SniffMIME(data)
	if sniffed == "" {
		return nil, &Error{Reason: ReasonNotImage, URL: Redact(rawURL), Detail: fmt.Sprintf("%d bytes declared %q are no known image format", len(data), mt)}
	}
	if !genericTypes[mt] && !strings.HasPrefix(mt, "image/") {
		return nil, &Error{Reason: ReasonNotImage, URL: Redact(rawURL), Detail: fmt.Sprintf("declared %q but the bytes are %s", mt, sniffed)}
	}
	if genericTypes[mt] {
		mt = ""
	}
	return &Result{Data: data, MIMEType: sniffed, Declared: mt}, nil
}

func (f *Fetcher) transportError(ctx context.Context, rawURL string, err error) error {
	var fe *Error
	if errors.As(err, &fe) {
		c := *fe
		c.URL = Redact(rawURL)
		return &c
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded || (errors.As(err, &ne) && ne.Timeout()) {
		return &Error{Reason: ReasonTimeout, URL: Redact(rawURL), Detail: "no complete answer within " + f.p.Timeout.String(), Err: err}
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Err.Error() // url.Error repeats the full URL, query included
	}
	return &Error{Reason: ReasonTransport, URL: Redact(rawURL), Detail: msg, Err: errors.Unwrap(err)}
}

// Redact returns a URL fit for messages: scheme, host and path only (no
// user info, query or fragment, which may hold signatures), and data: URIs
// shortened to their type and length.
func Redact(raw string) string {
	if len(raw) >= 5 && strings.EqualFold(raw[:5], "data:") {
		meta, _, _ := strings.Cut(raw, ",")
		return fmt.Sprintf("%s,…(%d chars)", textutil.Truncate(meta, 100), len(raw)-len(meta)-1)
	}
	u, err := url.Parse(raw)
	if err != nil {
		raw = textutil.Truncate(raw, 60)
		return strings.Map(func(r rune) rune {
			if r < ' ' {
				return -1
			}
			return r
		}, raw)
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return textutil.Truncate(u.String(), 300)
}
