package provider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func TestUSDString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   provider.USD
		want string
	}{
		{0, "$0.0000"},
		{39000, "$0.0390"},
		{33600, "$0.0336"},
		{1, "$0.000001"},
		{6, "$0.000006"},
		{123450, "$0.12345"},
		{1_500_000, "$1.5000"},
		{-10_000, "-$0.0100"},
		{42 * provider.Dollar, "$42.0000"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("USD(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestParseUSD(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want provider.USD
	}{
		{"0.039", 39000}, {"$0.039", 39000}, {"0.0336", 33600}, {"1", provider.Dollar},
		{"-2.5", -2_500_000}, {"+3", 3 * provider.Dollar}, {".5", 500_000}, {"7.", 7_000_000},
		{"0.000001", 1}, {"0.1200000", 120_000}, {"9223372036854.775807", provider.USD(1<<63 - 1)},
	}
	for _, tt := range good {
		got, err := provider.ParseUSD(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	bad := []string{"", ".", "$", "-", "abc", "1.2.3", "1e5", " 1", "1 ", "0x10", "0.0000001", "1,5", "--1", "$-1",
		"9223372036854.775808", "99999999999999999999", "١"}
	for _, in := range bad {
		if got, err := provider.ParseUSD(in); !errors.Is(err, provider.ErrBadAmount) {
			t.Errorf("ParseUSD(%q) = %d, %v; want ErrBadAmount", in, got, err)
		}
	}
}

func TestUSDTextRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []provider.USD{0, 1, 39000, -10_000, 1<<63 - 1, 123_456_789} {
		b, err := v.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back provider.USD
		if err := back.UnmarshalText(b); err != nil || back != v {
			t.Errorf("round trip of %d via %q = %d, %v", int64(v), b, back, err)
		}
	}
}

func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0.039", "$1.50", "-2", "1e5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := provider.ParseUSD(s)
		if err != nil {
			return
		}
		b, _ := v.MarshalText()
		back, err := provider.ParseUSD(string(b))
		if err != nil || back != v {
			t.Fatalf("%q parsed to %d, printed %q, reparsed %d, %v", s, int64(v), b, back, err)
		}
	})
}

func TestErrorMatchesItsSentinelOnly(t *testing.T) {
	t.Parallel()
	kinds := []provider.Kind{
		provider.KindUnknown, provider.KindInvalidRequest, provider.KindAuth, provider.KindModelNotFound,
		provider.KindModelRetired, provider.KindRateLimited, provider.KindQuotaExhausted,
		provider.KindContentBlocked, provider.KindNoImage, provider.KindUnavailable, provider.KindTimeout,
		provider.KindBudgetExceeded,
	}
	for _, k := range kinds {
		err := fmt.Errorf("wrapped: %w", &provider.Error{Kind: k})
		for _, other := range kinds {
			if got := errors.Is(err, other.Sentinel()); got != (k == other) {
				t.Errorf("errors.Is(%v error, %v sentinel) = %v", k, other, got)
			}
		}
		if provider.KindOf(err) != k {
			t.Errorf("KindOf = %v, want %v", provider.KindOf(err), k)
		}
		if provider.KindOf(k.Sentinel()) != k {
			t.Errorf("KindOf(sentinel %v) = %v", k, provider.KindOf(k.Sentinel()))
		}
		if strings.Contains(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&provider.Error{Kind: provider.KindRateLimited}, true},
		{&provider.Error{Kind: provider.KindUnavailable}, true},
		{&provider.Error{Kind: provider.KindTimeout}, true},
		{context.DeadlineExceeded, true},
		{&provider.Error{Kind: provider.KindQuotaExhausted}, false},
		{&provider.Error{Kind: provider.KindContentBlocked}, false},
		{&provider.Error{Kind: provider.KindInvalidRequest}, false},
		{&provider.Error{Kind: provider.KindAuth}, false},
		{&provider.Error{Kind: provider.KindModelRetired}, false},
		{&provider.Error{Kind: provider.KindBudgetExceeded}, false},
		{context.Canceled, false},
		{fmt.Errorf("%w", &provider.Error{Kind: provider.KindUnavailable, Err: context.Canceled}), false},
		{io.ErrUnexpectedEOF, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := provider.IsRetryable(tt.err); got != tt.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestRetryAfterAndBilledUsage(t *testing.T) {
	t.Parallel()
	inner := &provider.Error{Kind: provider.KindRateLimited, RetryAfter: 3 * time.Second, Usage: &provider.Usage{ThoughtTokens: 40}}
	joined := errors.Join(errors.New("other"), fmt.Errorf("route b: %w", inner))
	if d, ok := provider.RetryAfter(joined); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter(joined) = %v, %v", d, ok)
	}
	if _, ok := provider.RetryAfter(&provider.Error{Kind: provider.KindRateLimited}); ok {
		t.Error("RetryAfter found a hint where none was given")
	}
	if u, ok := provider.BilledUsage(joined); !ok || u.ThoughtTokens != 40 {
		t.Errorf("BilledUsage = %+v, %v", u, ok)
	}
}

func TestErrorsfWrapsCause(t *testing.T) {
	t.Parallel()
	cause := io.ErrUnexpectedEOF
	err := provider.Errorf(provider.KindUnavailable, "reading body: %w", cause)
	if !errors.Is(err, cause) || !errors.Is(err, provider.ErrUnavailable) {
		t.Fatalf("Errorf lost its cause or kind: %v", err)
	}
	if got := err.Error(); got != "provider unavailable: reading body: unexpected EOF" {
		t.Errorf("Error() = %q", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	img := provider.Image{Data: []byte("\x89PNG\r\n\x1a\n....")}
	seed := int64(7)
	ok := []provider.Request{
		{Prompt: "a cat"},
		{Prompt: "a cat", N: provider.MaxN, Size: "1k", AspectRatio: "16:9", OutputFormat: "JPG", Seed: &seed},
		{Prompt: "a cat", Size: "1536x1024", OutputFormat: "image/webp"},
		{Prompt: "a cat", Size: "auto", AspectRatio: "auto"},
		{Prompt: "edit", References: []provider.Image{img}, Mask: &img},
		{Prompt: strings.Repeat("é", provider.MaxPromptRunes)},
	}
	for i, r := range ok {
		if err := r.Validate(); err != nil {
			t.Errorf("ok[%d]: %v", i, err)
		}
	}
	bad := []struct {
		req   provider.Request
		field string
	}{
		{provider.Request{}, "Prompt"},
		{provider.Request{Prompt: " \n\t"}, "Prompt"},
		{provider.Request{Prompt: "\xff"}, "Prompt"},
		{provider.Request{Prompt: strings.Repeat("a", provider.MaxPromptRunes+1)}, "Prompt"},
		{provider.Request{Prompt: "x", N: -1}, "N"},
		{provider.Request{Prompt: "x", N: provider.MaxN + 1}, "N"},
		{provider.Request{Prompt: "x", Size: "3K"}, "Size"},
		{provider.Request{Prompt: "x", Size: "1024"}, "Size"},
		{provider.Request{Prompt: "x", Size: "0x100"}, "Size"},
		{provider.Request{Prompt: "x", Size: "100x"}, "Size"},
		{provider.Request{Prompt: "x", Size: "9000x9000"}, "Size"},
		{provider.Request{Prompt: "x", AspectRatio: "16/9"}, "AspectRatio"},
		{provider.Request{Prompt: "x", AspectRatio: "0:1"}, "AspectRatio"},
		{provider.Request{Prompt: "x", AspectRatio: "wide"}, "AspectRatio"},
		{provider.Request{Prompt: "x", OutputFormat: "bmp"}, "OutputFormat"},
		{provider.Request{Prompt: "x", References: []provider.Image{img, {}}}, "References[1]"},
		{provider.Request{Prompt: "x", Mask: &img}, "Mask"},
		{provider.Request{Prompt: "x", References: []provider.Image{img}, Mask: &provider.Image{}}, "Mask"},
		{provider.Request{Prompt: "x", Labels: map[string]string{"": "v"}}, "Labels"},
		{provider.Request{Prompt: "x", References: []provider.Image{{Data: []byte("plain text, not an image")}}}, "References[0]"},
		{provider.Request{Prompt: "x", References: []provider.Image{{Data: img.Data, MIMEType: "text/evil"}}}, "References[0]"},
		{provider.Request{Prompt: "x", References: []provider.Image{{Data: img.Data, MIMEType: "image/jpeg"}}}, "References[0]"},
		{provider.Request{Prompt: "x", References: []provider.Image{img}, Mask: &provider.Image{Data: []byte("mask")}}, "Mask"},
	}
	for i, tt := range bad {
		err := tt.req.Validate()
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Kind != provider.KindInvalidRequest {
			t.Errorf("bad[%d]: got %v, want ErrInvalidRequest", i, err)
			continue
		}
		if !strings.HasPrefix(pe.Message, tt.field+":") {
			t.Errorf("bad[%d]: message %q does not name field %s", i, pe.Message, tt.field)
		}
	}
	var nilReq *provider.Request
	if err := nilReq.Validate(); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("nil request: %v", err)
	}
	// Declared types that name the sniffed one, in any spelling, pass.
	for _, mt := range []string{"", "image/png", "IMAGE/PNG", "image/x-png", "image/png; q=1"} {
		r := provider.Request{Prompt: "x", References: []provider.Image{{Data: img.Data, MIMEType: mt}}}
		if err := r.Validate(); err != nil {
			t.Errorf("MIMEType %q: %v", mt, err)
		}
	}
}

// A nil request is an ErrInvalidRequest in every helper, never a panic.
func TestNilRequestInHelpers(t *testing.T) {
	var nilReq *provider.Request
	g := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) { return nil, nil })
	for name, err := range map[string]error{
		"Capabilities.Check": provider.Capabilities{MaxImages: 1}.Check(nil),
		"CheckRequest":       provider.CheckRequest(g, nil),
		"CheckRequest(Wrap)": provider.CheckRequest(provider.Wrap(g, g), nil),
	} {
		if !errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if nilReq.Count() != 1 || nilReq.Clone() != nil {
		t.Error("Count/Clone of nil")
	}
	if d := provider.Describe(nil); d.Provider != "" {
		t.Errorf("Describe(nil) = %+v", d)
	}
}

func TestCheckInputImage(t *testing.T) {
	t.Parallel()
	heic := append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 16)...)
	heif := append([]byte("\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1"), make([]byte, 16)...)
	avif := append([]byte("\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif"), make([]byte, 16)...)
	for _, tt := range []struct {
		data     []byte
		declared string
		want     string
		ok       bool
	}{
		{heic, "", "image/heic", true},
		{heic, "image/heif", "image/heic", true},
		{heif, "image/heif", "image/heif", true},
		{heif, "image/png", "", false},
		{avif, "", "", false},
		{[]byte("GIF89a...."), "image/gif", "image/gif", true},
	} {
		got, err := provider.CheckInputImage("References[0]", provider.Image{Data: tt.data, MIMEType: tt.declared})
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("%q as %q: %q, %v", tt.data[:12], tt.declared, got, err)
		}
	}
	if ext := (provider.Image{Data: heic}).Extension(); ext != ".heic" {
		t.Errorf("Extension = %q", ext)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""}, {"1k", "1K"}, {"1K", "1K"}, {" 2k ", "2K"}, {"4K", "4K"}, {"512", "512"}, {"512px", "512"},
		{"0.5K", "512"}, {"AUTO", "auto"}, {"1024x1536", "1024x1536"}, {"1024X1536", "1024x1536"}, {"640*480", "640x480"},
	}
	for _, tt := range tests {
		s, err := provider.ParseSize(tt.in)
		if err != nil || s.String() != tt.want {
			t.Errorf("ParseSize(%q) = %q, %v; want %q", tt.in, s.String(), err, tt.want)
		}
	}
}

func TestSniffAndExtension(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data        string
		mime, ext   string
		claimedMIME string
	}{
		{"\x89PNG\r\n\x1a\nrest", "image/png", ".png", "image/jpeg"},
		{"\xff\xd8\xff\xe0rest", "image/jpeg", ".jpg", ""},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", ".webp", ""},
		{"GIF89a....", "image/gif", ".gif", ""},
		{"\n<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", ".svg", ""},
		{"<?xml version='1.0'?><svg/>", "image/svg+xml", ".svg", ""},
		{"not an image", "", ".jpg", "image/jpeg"},
		{"not an image", "", ".bin", ""},
	}
	for _, tt := range tests {
		if got := provider.SniffMIME([]byte(tt.data)); got != tt.mime {
			t.Errorf("SniffMIME(%q) = %q, want %q", tt.data, got, tt.mime)
		}
		img := provider.Image{Data: []byte(tt.data), MIMEType: tt.claimedMIME}
		if got := img.Extension(); got != tt.ext {
			t.Errorf("Extension(%q, %q) = %q, want %q", tt.data, tt.claimedMIME, got, tt.ext)
		}
	}
}

func TestCapabilitiesCheck(t *testing.T) {
	t.Parallel()
	img := provider.Image{Data: []byte{1}}
	caps := provider.Capabilities{
		MaxImages: 4, MaxReferences: 2, EditKnown: true, Edit: true, Mask: false,
		Sizes: []string{"1K", "2K", "1536x1024"}, AspectRatios: []string{"1:1", "16:9"}, OutputFormats: []string{"png", "jpeg"},
	}
	tests := []struct {
		req   provider.Request
		field string // "" means accepted
	}{
		{provider.Request{Prompt: "x"}, ""},
		{provider.Request{Prompt: "x", N: 4, Size: "2k", AspectRatio: "16:9", OutputFormat: "jpg"}, ""},
		{provider.Request{Prompt: "x", N: 5}, "N"},
		{provider.Request{Prompt: "x", References: []provider.Image{img, img, img}}, "References"},
		{provider.Request{Prompt: "x", References: []provider.Image{img}, Mask: &img}, "Mask"},
		{provider.Request{Prompt: "x", Size: "4K"}, "Size"},
		{provider.Request{Prompt: "x", Size: "1024x1024"}, "Size"},
		{provider.Request{Prompt: "x", Size: "1536x1024"}, ""},
		{provider.Request{Prompt: "x", AspectRatio: "4:3"}, "AspectRatio"},
		{provider.Request{Prompt: "x", OutputFormat: "webp"}, "OutputFormat"},
	}
	for i, tt := range tests {
		err := caps.Check(&tt.req)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("[%d] rejected: %v", i, err)
		case tt.field != "" && (!errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.field+":")):
			t.Errorf("[%d] got %v, want an invalid-request error naming %s", i, err, tt.field)
		}
	}
	if err := (provider.Capabilities{}).Check(&provider.Request{Prompt: "x", N: 10, Size: "4K"}); err != nil {
		t.Errorf("zero Capabilities rejected a request: %v", err)
	}
	noRefs := provider.Capabilities{NoReferences: true}
	if err := noRefs.Check(&provider.Request{Prompt: "x", References: []provider.Image{img}}); err == nil {
		t.Error("NoReferences accepted a reference")
	}
}

type described struct{ provider.GeneratorFunc }

func (described) Describe() provider.Description {
	return provider.Description{Provider: "fake", Model: "m1", Capabilities: provider.Capabilities{MaxImages: 1}}
}

type checked struct{ described }

func (checked) CheckRequest(req *provider.Request) error {
	if req.Prompt == "refuse" {
		return &provider.Error{Kind: provider.KindInvalidRequest, Message: "refused by checker"}
	}
	return nil
}

func passThrough(next provider.Generator) provider.Generator {
	return provider.Wrap(next, next.Generate)
}

// opaque is a decorator that neither describes itself nor unwraps.
type opaque struct{ provider.Generator }

func TestDescribeSeesThroughDecorators(t *testing.T) {
	t.Parallel()
	base := described{provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{}, nil
	})}
	stack := provider.Chain(base, passThrough, passThrough, passThrough)
	d := provider.Describe(stack)
	if d.Provider != "fake" || d.Model != "m1" || d.Capabilities.MaxImages != 1 {
		t.Fatalf("Describe through 3 decorators = %+v", d)
	}
	if err := provider.CheckRequest(stack, &provider.Request{Prompt: "x", N: 2}); !errors.Is(err, provider.ErrInvalidRequest) {
		t.Errorf("capabilities not applied through the stack: %v", err)
	}
	withChecker := provider.Chain(checked{base}, passThrough)
	if err := provider.CheckRequest(withChecker, &provider.Request{Prompt: "refuse"}); err == nil || !strings.Contains(err.Error(), "refused by checker") {
		t.Errorf("RequestChecker not consulted: %v", err)
	}
	if got := provider.Describe(opaque{base}); got.Provider != "" || got.Model != "" {
		t.Errorf("opaque decorator described as %+v", got)
	}
	if u, ok := stack.(provider.Unwrapper); !ok || u.Unwrap() == nil {
		t.Error("Wrap does not expose what it wraps")
	}
}

func TestChainSkipsNilAndKeepsOrder(t *testing.T) {
	t.Parallel()
	var order []string
	mw := func(name string) provider.Middleware {
		return func(next provider.Generator) provider.Generator {
			return provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
				order = append(order, name)
				return next.Generate(ctx, req)
			})
		}
	}
	g := provider.Chain(provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		order = append(order, "base")
		return &provider.Response{}, nil
	}), mw("a"), nil, mw("b"))
	if _, err := g.Generate(context.Background(), &provider.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "a,b,base" {
		t.Errorf("order = %s", got)
	}
}

func TestRequestCloneIsDeep(t *testing.T) {
	t.Parallel()
	seed := int64(1)
	r := &provider.Request{Prompt: "x", Seed: &seed, Labels: map[string]string{"a": "1"}, Options: provider.Options{testOption{N: 1}},
		References: []provider.Image{{Data: []byte{1}}}, Mask: &provider.Image{Data: []byte{2}}}
	c := r.Clone()
	c.Labels["a"] = "2"
	c.Options[0] = testOption{N: 2}
	*c.Seed = 9
	c.References[0].MIMEType = "changed"
	c.Mask.MIMEType = "changed"
	if r.Labels["a"] != "1" || r.Options[0] != (testOption{N: 1}) || *r.Seed != 1 || r.References[0].MIMEType != "" || r.Mask.MIMEType != "" {
		t.Errorf("Clone shares state: %+v", r)
	}
	if (&provider.Request{N: 0}).Count() != 1 || (&provider.Request{N: 3}).Count() != 3 {
		t.Error("Count")
	}
}

func TestUsageAdd(t *testing.T) {
	t.Parallel()
	a := provider.Usage{InputTokens: 1, InputImageTokens: 2, OutputTokens: 3, OutputImageTokens: 4, ThoughtTokens: 5, Images: 6, Previews: 7}
	if got := a.Add(a); got != (provider.Usage{2, 4, 6, 8, 10, 12, 14}) {
		t.Errorf("Add = %+v", got)
	}
	if !(provider.Usage{}).IsZero() || a.IsZero() {
		t.Error("IsZero")
	}
}

func BenchmarkChainFiveNoOps(b *testing.B) {
	base := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return nil, nil
	})
	g := provider.Chain(base, passThrough, passThrough, passThrough, passThrough, passThrough)
	ctx := context.Background()
	req := &provider.Request{Prompt: "x"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Generate(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	req := &provider.Request{Prompt: strings.Repeat("a photo of a lighthouse at dusk ", 10), Size: "2K", AspectRatio: "16:9", OutputFormat: "png"}
	b.ReportAllocs()
	for b.Loop() {
		if err := req.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWithOrigin(t *testing.T) {
	t.Parallel()
	orig := &provider.Error{Kind: provider.KindInvalidRequest, Model: "kept"}
	err := provider.WithOrigin(fmt.Errorf("wrapped: %w", orig), "gemini", "m")
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Provider != "gemini" || pe.Model != "kept" || orig.Provider != "" {
		t.Errorf("WithOrigin = %+v; original %+v", pe, orig)
	}
	plain := errors.New("plain")
	if provider.WithOrigin(plain, "p", "m") != plain {
		t.Error("a plain error was changed")
	}
}

type routes struct{ provider.GeneratorFunc }

func (routes) Alternatives() []provider.Description {
	return []provider.Description{{Model: "a"}, {Model: "b"}}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	through := provider.Chain(routes{}, passThrough, passThrough)
	if got := provider.Candidates(through); len(got) != 2 || got[1].Model != "b" {
		t.Errorf("Candidates through decorators = %+v", got)
	}
	single := provider.Chain(described{}, passThrough)
	if got := provider.Candidates(single); len(got) != 1 || got[0].Model != "m1" {
		t.Errorf("Candidates of one generator = %+v", got)
	}
}

func TestConfigError(t *testing.T) {
	t.Parallel()
	err := error(provider.InvalidConfig("ratelimit.Config.Burst", 100, "0 to RequestsPerMinute (60)"))
	if !errors.Is(err, provider.ErrInvalidConfig) {
		t.Fatal("ConfigError does not match ErrInvalidConfig")
	}
	if errors.Is(err, provider.ErrInvalidRequest) {
		t.Fatal("a configuration mistake must not be a request error")
	}
	const want = "imagegen: invalid configuration: ratelimit.Config.Burst = 100: want 0 to RequestsPerMinute (60)"
	if err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}
