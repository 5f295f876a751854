package probereport

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.95, 95 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := Percentile(lat, tc.q); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if Percentile(nil, 0.5) != 0 || Percentile(lat[:1], 0.99) != time.Millisecond {
		t.Error("edge cases")
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	var ss []Sample
	for i := range 20 {
		s := Sample{Provider: "b", Model: "m", Latency: time.Duration(100+i*10) * time.Millisecond, Images: 1}
		if i%5 == 0 {
			s.Err, s.Kind, s.Images = "503 overloaded <b>", "provider unavailable", 0
		}
		ss = append(ss, s)
	}
	ss = append(ss, Sample{Provider: "a", Model: "x", Latency: 2 * time.Second, Err: "429", Kind: "rate limited"})
	r := Build(Meta{N: 20, Concurrency: 2, Prompt: "p"}, ss, map[string]provider.USD{"b": 160_000})
	if len(r.Providers) != 2 || r.Providers[0].Name != "a" {
		t.Fatalf("%+v", r.Providers)
	}
	b := r.Providers[1]
	if b.OK != 16 || b.Rate != 0.8 || b.Images != 16 || b.CostPerImage != 10_000 || b.Errors[0].Count != 4 {
		t.Errorf("%+v", b)
	}
	total := 0
	for _, bin := range b.Bins {
		total += bin.OK + bin.Failed
	}
	if total != 20 || r.BinWidth*time.Duration(r.Bins) <= 2*time.Second {
		t.Errorf("bins hold %d, width %v × %d", total, r.BinWidth, r.Bins)
	}
	var md, html bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil || !strings.Contains(md.String(), "| b | m | 20 | 80.0% (16) |") {
		t.Errorf("%v\n%s", err, md.String())
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html.String(), "<b>") || !strings.Contains(html.String(), `data-provider="b" data-rate="0.8000" data-ok="16" data-requests="20"`) {
		t.Errorf("html: escaping or data attributes wrong")
	}
}
