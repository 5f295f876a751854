package probereport

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes the report as Markdown.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# imagegen probe, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "%d requests per provider, %d at once, on %s, in %s. Prompt: %q", r.N, r.Concurrency, r.Where,
		r.Elapsed.Round(time.Millisecond), r.Prompt)
	if r.Size != "" {
		fmt.Fprintf(&b, ", size %s", r.Size)
	}
	if r.Retries {
		b.WriteString(". Retries on (the providers' retry policies)")
	} else {
		b.WriteString(". No retries: every failure counts")
	}
	b.WriteString(". Latency percentiles are of successful requests.\n\n")
	b.WriteString("| provider | model | requests | success | p50 | p95 | p99 | images | cost | cost per image |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range r.Providers {
		per := "-"
		if p.Images > 0 {
			per = p.CostPerImage.String()
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s (%d) | %s | %s | %s | %d | %s | %s |\n", mdCell(p.Name), mdCell(p.Model),
			p.Requests, pct(p.Rate), p.OK, ms(p.P50), ms(p.P95), ms(p.P99), p.Images, p.Cost, per)
	}
	b.WriteString("\n## Errors by kind\n\n")
	any := false
	for _, p := range r.Providers {
		for _, e := range p.Errors {
			if !any {
				b.WriteString("| provider | kind | count | example |\n| --- | --- | ---: | --- |\n")
				any = true
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", mdCell(p.Name), mdCell(e.Kind), e.Count, mdCell(truncate(e.Example, 160)))
		}
	}
	if !any {
		b.WriteString("None.\n")
	}
	fmt.Fprintf(&b, "\n## Latency histogram (bins of %s)\n\n", ms(r.BinWidth))
	for _, p := range r.Providers {
		fmt.Fprintf(&b, "%s:\n\n```\n", p.Name)
		top := 1
		for _, bin := range p.Bins {
			top = max(top, bin.OK+bin.Failed)
		}
		for _, bin := range p.Bins {
			n := bin.OK + bin.Failed
			fmt.Fprintf(&b, "%7d–%-7d ms %s%s %d\n", bin.Lo.Milliseconds(), bin.Hi.Milliseconds(),
				strings.Repeat("#", bin.OK*40/top), strings.Repeat("x", bin.Failed*40/top), n)
		}
		b.WriteString("```\n\n")
	}
	b.WriteString("`#` succeeded, `x` failed. See report.html for the charts.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Geometry of the charts, in SVG user units.
const (
	chartW   = 720.0
	labelW   = 170.0
	rateRowH = 30.0
	histH    = 170.0
	histTop  = 16.0
	histBot  = 30.0
	histLeft = 40.0
)

type rateBar struct {
	Name     string
	LabelX   float64
	Inside   bool
	Y, W     float64
	TextY    float64
	Rate     float64
	OK, N    int
	Label    string
	Color    string
	BarWidth float64
}

type histBar struct {
	X, W             float64
	YOK, HOK, YF, HF float64
	LoMS, HiMS       int64
	OK, Failed       int
}

type marker struct {
	Name   string
	X      float64
	LabelY float64
	MS     int64
}

type tick struct {
	X      float64
	Label  string
	Anchor string
}

type histogram struct {
	Name, Model string
	Bars        []histBar
	Markers     []marker
	Ticks       []tick
	YMax        int
	Base        float64
}

type page struct {
	*Report
	Title      string
	RateH      float64
	Rates      []rateBar
	Histograms []histogram
	ChartW     float64
	LabelW     float64
	PlotW      float64
	HistH      float64
	HistLeft   float64
	HistRight  float64
	BinLabel   string
	Rows       []row
	Errors     []errRow
}

type row struct {
	Name, Model, Rate, P50, P95, P99, Cost, PerImage string
	Requests, OK, Images                             int
}

type errRow struct {
	Provider, Kind, Example string
	Count                   int
}

// WriteHTML writes the report as one self-contained HTML page.
func (r *Report) WriteHTML(w io.Writer) error {
	pg := page{Report: r, Title: "imagegen probe, " + r.Started.UTC().Format("2006-01-02 15:04 MST"),
		ChartW: chartW, LabelW: labelW, PlotW: chartW - labelW - 20, HistH: histH, BinLabel: ms(r.BinWidth),
		HistLeft: histLeft, HistRight: chartW - 30}
	pg.RateH = rateRowH*float64(len(r.Providers)) + 24
	for i, p := range r.Providers {
		color := "#2e7d32"
		switch {
		case p.Rate < 0.9:
			color = "#c62828"
		case p.Rate < 0.99:
			color = "#ef8f00"
		}
		y := 8 + rateRowH*float64(i)
		rb := rateBar{Name: p.Name, Y: y, TextY: y + 15, Rate: p.Rate, OK: p.OK, N: p.Requests,
			W: pg.PlotW * p.Rate, BarWidth: pg.PlotW, Label: fmt.Sprintf("%s (%d/%d)", pct(p.Rate), p.OK, p.Requests), Color: color}
		// The label goes inside a long bar, after a short one.
		rb.Inside = rb.W > 140
		rb.LabelX = labelW + 6
		if !rb.Inside {
			rb.LabelX = labelW + rb.W + 6
		}
		pg.Rates = append(pg.Rates, rb)
		per := "-"
		if p.Images > 0 {
			per = p.CostPerImage.String()
		}
		pg.Rows = append(pg.Rows, row{Name: p.Name, Model: p.Model, Rate: pct(p.Rate), P50: ms(p.P50), P95: ms(p.P95), P99: ms(p.P99),
			Cost: p.Cost.String(), PerImage: per, Requests: p.Requests, OK: p.OK, Images: p.Images})
		for _, e := range p.Errors {
			pg.Errors = append(pg.Errors, errRow{Provider: p.Name, Kind: e.Kind, Example: truncate(e.Example, 240), Count: e.Count})
		}
	}
	ymax := 1
	for _, p := range r.Providers {
		for _, b := range p.Bins {
			ymax = max(ymax, b.OK+b.Failed)
		}
	}
	plotH := histH - histTop - histBot
	base := histTop + plotH
	for _, p := range r.Providers {
		h := histogram{Name: p.Name, Model: p.Model, YMax: ymax, Base: base}
		plotW := pg.HistRight - histLeft
		bw := plotW / float64(max(len(p.Bins), 1))
		for i, b := range p.Bins {
			x := histLeft + float64(i)*bw
			hok := plotH * float64(b.OK) / float64(ymax)
			hf := plotH * float64(b.Failed) / float64(ymax)
			h.Bars = append(h.Bars, histBar{X: x + 1, W: bw - 2, YOK: base - hok, HOK: hok, YF: base - hok - hf, HF: hf,
				LoMS: b.Lo.Milliseconds(), HiMS: b.Hi.Milliseconds(), OK: b.OK, Failed: b.Failed})
			if i%2 == 0 {
				h.Ticks = append(h.Ticks, tick{X: x, Label: fmt.Sprint(b.Lo.Milliseconds()), Anchor: "middle"})
			}
		}
		h.Ticks = append(h.Ticks, tick{X: pg.HistRight, Label: fmt.Sprintf("%d ms", (time.Duration(len(p.Bins)) * r.BinWidth).Milliseconds()), Anchor: "end"})
		span := time.Duration(len(p.Bins)) * r.BinWidth
		for _, m := range []struct {
			n string
			d time.Duration
		}{{"p50", p.P50}, {"p95", p.P95}, {"p99", p.P99}} {
			if m.d > 0 && span > 0 {
				mk := marker{Name: m.n, MS: m.d.Milliseconds(), LabelY: 12,
					X: histLeft + plotW*float64(min(m.d, span))/float64(span)}
				// Stagger the labels of markers close together.
				if n := len(h.Markers); n > 0 && mk.X-h.Markers[n-1].X < 36 && h.Markers[n-1].LabelY == 12 {
					mk.LabelY = 26
				}
				h.Markers = append(h.Markers, mk)
			}
		}
		pg.Histograms = append(pg.Histograms, h)
	}
	return pageTemplate.Execute(w, pg)
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 2em auto; max-width: 900px; padding: 0 1em; }
table { font-size: 14px; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: .3em .5em; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
svg .value { font-weight: 600; } svg .on-bar { fill: #fff; }
h3 { font-size: 1em; margin: 1.2em 0 0; } h3 small { color: #666; font-weight: normal; }
.legend span { display: inline-block; width: .9em; height: .9em; vertical-align: -.1em; margin: 0 .3em 0 1em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{.N}} requests per provider, {{.Concurrency}} at once, on {{.Where}}, in {{.Elapsed}}. Prompt: “{{.Prompt}}”{{if .Size}}, size {{.Size}}{{end}}.
{{if .Retries}}Retries on.{{else}}No retries: every failure counts.{{end}} Latency percentiles are of successful requests.</p>

<h2>Success rate</h2>
<svg id="success-rate" role="img" aria-label="success rate per provider" width="{{.ChartW}}" height="{{.RateH}}" viewBox="0 0 {{.ChartW}} {{.RateH}}" xmlns="http://www.w3.org/2000/svg">
{{range .Rates}}<g class="rate-row">
<text x="{{$.LabelW | printf "%.0f"}}" dx="-8" y="{{.TextY}}" text-anchor="end">{{.Name}}</text>
<rect x="{{$.LabelW}}" y="{{.Y}}" width="{{.BarWidth}}" height="20" fill="#eee"/>
<rect class="rate" data-provider="{{.Name}}" data-rate="{{printf "%.4f" .Rate}}" data-ok="{{.OK}}" data-requests="{{.N}}" x="{{$.LabelW}}" y="{{.Y}}" width="{{printf "%.2f" .W}}" height="20" fill="{{.Color}}"><title>{{.Name}}: {{.Label}}</title></rect>
<text class="value{{if .Inside}} on-bar{{end}}" x="{{printf "%.2f" .LabelX}}" y="{{.TextY}}">{{.Label}}</text>
</g>
{{end}}</svg>

<h2>Summary</h2>
<table id="summary">
<tr><th>provider</th><th class="text">model</th><th>requests</th><th>success</th><th>p50</th><th>p95</th><th>p99</th><th>images</th><th>cost</th><th>per image</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="text">{{.Model}}</td><td>{{.Requests}}</td><td>{{.Rate}}</td><td>{{.P50}}</td><td>{{.P95}}</td><td>{{.P99}}</td><td>{{.Images}}</td><td>{{.Cost}}</td><td>{{.PerImage}}</td></tr>
{{end}}</table>

<h2>Latency</h2>
<p class="legend">Requests per bin of {{.BinLabel}}, every provider on one scale:<span style="background:#1565c0"></span>succeeded<span style="background:#c62828"></span>failed; dashed lines: p50, p95, p99.</p>
{{range .Histograms}}{{$h := .}}<h3>{{.Name}} <small>{{.Model}}</small></h3>
<svg class="latency-histogram" data-provider="{{.Name}}" data-ymax="{{.YMax}}" role="img" aria-label="latency histogram of {{.Name}}" width="{{$.ChartW}}" height="{{$.HistH}}" viewBox="0 0 {{$.ChartW}} {{$.HistH}}" xmlns="http://www.w3.org/2000/svg">
<line x1="{{$.HistLeft}}" y1="{{.Base}}" x2="{{$.HistRight}}" y2="{{.Base}}" stroke="#999"/>
{{range .Bars}}<g class="bin" data-lo-ms="{{.LoMS}}" data-hi-ms="{{.HiMS}}" data-ok="{{.OK}}" data-failed="{{.Failed}}"><title>{{.LoMS}}–{{.HiMS}} ms: {{.OK}} succeeded, {{.Failed}} failed</title>
<rect x="{{printf "%.2f" .X}}" y="{{printf "%.2f" .YOK}}" width="{{printf "%.2f" .W}}" height="{{printf "%.2f" .HOK}}" fill="#1565c0"/>
<rect x="{{printf "%.2f" .X}}" y="{{printf "%.2f" .YF}}" width="{{printf "%.2f" .W}}" height="{{printf "%.2f" .HF}}" fill="#c62828"/></g>
{{end}}{{range .Markers}}<line class="marker" data-name="{{.Name}}" data-ms="{{.MS}}" x1="{{printf "%.2f" .X}}" y1="16" x2="{{printf "%.2f" .X}}" y2="{{$h.Base}}" stroke="#555" stroke-dasharray="4 3"/>
<text x="{{printf "%.2f" .X}}" y="{{.LabelY}}" dx="3" text-anchor="start">{{.Name}}</text>
{{end}}{{range .Ticks}}<text x="{{printf "%.2f" .X}}" y="{{$.HistH | printf "%.0f"}}" dy="-12" text-anchor="{{.Anchor}}">{{.Label}}</text>
{{end}}<text x="{{$.HistLeft}}" dx="-6" y="{{.Base}}" text-anchor="end">0</text>
<text x="{{$.HistLeft}}" dx="-6" y="20" text-anchor="end">{{.YMax}}</text>
</svg>
{{end}}

<h2>Errors by kind</h2>
{{if .Errors}}<table id="errors">
<tr><th>provider</th><th class="text">kind</th><th>count</th><th class="text">example</th></tr>
{{range .Errors}}<tr><td>{{.Provider}}</td><td class="text">{{.Kind}}</td><td>{{.Count}}</td><td class="text">{{.Example}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<p class="meta">Made by <code>imagegen probe</code>. Costs are what the pricing meter recorded, billed failures included.</p>
</body>
</html>
`))
