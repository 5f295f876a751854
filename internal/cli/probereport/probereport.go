// Package probereport turns the samples of `imagegen probe` into a report:
// per provider the success rate, errors by kind, latency percentiles and
// cost per image, written as Markdown (report.md) and as one
// self-contained HTML page (report.html) whose charts are inline SVG: a
// success-rate bar per provider and a latency histogram per provider, on
// one scale. The page loads nothing and runs no script.
//
// Every chart element carries its data in attributes (data-provider,
// data-rate, data-lo-ms, data-hi-ms, data-ok, data-failed), so a test, or a
// reader's script, can check the picture against the numbers.
package probereport

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Sample is one probe request.
type Sample struct {
	Provider string
	Model    string
	Latency  time.Duration
	Err      string // "" on success
	Kind     string // the error's kind ("rate limited"), "" on success
	Images   int
}

// Meta describes the run.
type Meta struct {
	Started     time.Time
	Elapsed     time.Duration
	N           int // requests per provider
	Concurrency int
	Prompt      string
	Size        string
	Where       string // "live providers", "the emulator ..."
	Retries     bool
}

// ErrorKind is a count of one kind of error, with one example message.
type ErrorKind struct {
	Kind    string
	Count   int
	Example string
}

// Bin is one bar of a latency histogram: [Lo, Hi).
type Bin struct {
	Lo, Hi     time.Duration
	OK, Failed int
}

// Provider is the summary of one provider.
type Provider struct {
	Name, Model   string
	Requests, OK  int
	Rate          float64 // OK / Requests
	P50, P95, P99 time.Duration
	Mean          time.Duration
	Errors        []ErrorKind // by count, then kind
	Images        int
	Cost          provider.USD // everything billed, failures included
	CostPerImage  provider.USD // Cost / Images; 0 without images
	Bins          []Bin
}

// Report is a probe's result.
type Report struct {
	Meta
	Providers []Provider
	// BinWidth is the width of every histogram bin; all providers share
	// the bins' edges so that their histograms compare.
	BinWidth time.Duration
	Bins     int
}

// Build summarises samples; costs holds what each provider billed (from
// the meter, failures included).
func Build(meta Meta, samples []Sample, costs map[string]provider.USD) *Report {
	r := &Report{Meta: meta, Bins: 12}
	byName := map[string][]Sample{}
	var names []string
	var maxLat time.Duration
	for _, s := range samples {
		if _, ok := byName[s.Provider]; !ok {
			names = append(names, s.Provider)
		}
		byName[s.Provider] = append(byName[s.Provider], s)
		maxLat = max(maxLat, s.Latency)
	}
	slices.Sort(names)
	r.BinWidth = niceWidth(maxLat, r.Bins)
	r.Bins = max(int(maxLat/r.BinWidth)+1, 4)
	for _, name := range names {
		r.Providers = append(r.Providers, summarise(name, byName[name], costs[name], r.BinWidth, r.Bins))
	}
	return r
}

func summarise(name string, ss []Sample, cost provider.USD, width time.Duration, bins int) Provider {
	p := Provider{Name: name, Requests: len(ss), Cost: cost, Bins: make([]Bin, bins)}
	for i := range p.Bins {
		p.Bins[i] = Bin{Lo: time.Duration(i) * width, Hi: time.Duration(i+1) * width}
	}
	var okLat []time.Duration
	var total time.Duration
	kinds := map[string]*ErrorKind{}
	for _, s := range ss {
		if p.Model == "" {
			p.Model = s.Model
		}
		b := min(int(s.Latency/width), bins-1)
		total += s.Latency
		if s.Err == "" {
			p.OK++
			p.Images += s.Images
			okLat = append(okLat, s.Latency)
			p.Bins[b].OK++
			continue
		}
		p.Bins[b].Failed++
		k := kinds[s.Kind]
		if k == nil {
			k = &ErrorKind{Kind: s.Kind, Example: s.Err}
			kinds[s.Kind] = k
		}
		k.Count++
	}
	if p.Requests > 0 {
		p.Rate = float64(p.OK) / float64(p.Requests)
		p.Mean = total / time.Duration(p.Requests)
	}
	slices.Sort(okLat)
	p.P50, p.P95, p.P99 = Percentile(okLat, 0.50), Percentile(okLat, 0.95), Percentile(okLat, 0.99)
	for _, k := range kinds {
		p.Errors = append(p.Errors, *k)
	}
	slices.SortFunc(p.Errors, func(a, b ErrorKind) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Kind, b.Kind))
	})
	if p.Images > 0 {
		p.CostPerImage = cost / provider.USD(p.Images)
	}
	return p
}

// Percentile returns the nearest-rank percentile q (0 < q ≤ 1) of sorted
// latencies: the smallest value that at least q of them do not exceed.
// It returns 0 for none.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// niceWidth returns a round bin width (1, 2 or 5 × a power of ten
// milliseconds) so that bins of it cover maxLat.
func niceWidth(maxLat time.Duration, bins int) time.Duration {
	raw := float64(maxLat) / float64(bins)
	if raw <= float64(time.Millisecond) {
		return time.Millisecond
	}
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if w := m * exp; w >= raw {
			// Cover maxLat itself in the last bin's half-open range.
			if time.Duration(w)*time.Duration(bins) <= maxLat {
				continue
			}
			return time.Duration(w)
		}
	}
	return time.Duration(10 * exp)
}

// ms formats a duration in milliseconds for tables.
func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }
