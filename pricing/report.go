package pricing

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Report is a spend report: the meter's totals as rows, ready to export.
type Report struct {
	From  time.Time `json:"from"` // when the meter started (or was Reset)
	To    time.Time `json:"to"`   // when the report was made
	Total Line      `json:"total"`
	Rows  []Row     `json:"rows"` // by provider, then model, tier and label; keys sorted
}

// Row is one line of a report.
type Row struct {
	Dimension string `json:"dimension"` // "provider", "model", "tier" or "label"
	Key       string `json:"key"`       // "gemini", "gemini-3-pro-image", "batch", "team=search"
	Line
}

// Report returns the spend so far.
func (m *Meter) Report() *Report {
	t := m.Totals()
	m.mu.Lock()
	from := m.since
	m.mu.Unlock()
	r := &Report{From: from, To: m.clock(), Total: t.All}
	add := func(dim string, lines map[string]Line) {
		for _, k := range slices.Sorted(maps.Keys(lines)) {
			r.Rows = append(r.Rows, Row{Dimension: dim, Key: k, Line: lines[k]})
		}
	}
	add("provider", t.ByProvider)
	add("model", t.ByModel)
	tiers := map[string]Line{}
	for k, v := range t.ByTier {
		tiers[string(k)] = v
	}
	add("tier", tiers)
	add("label", t.ByLabel)
	return r
}

// WriteJSON writes the report as indented JSON. Amounts are decimal dollar
// strings ("0.0336"), exact to the micro-dollar.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader returns the header row of WriteCSV.
func CSVHeader() []string {
	return []string{"dimension", "key", "calls", "failed", "reported", "unpriced", "images",
		"input_tokens", "input_image_tokens", "output_tokens", "output_image_tokens", "thought_tokens", "cost_usd"}
}

// WriteCSV writes the report as CSV: CSVHeader, a "total" row, then one row
// per Row. cost_usd is a decimal dollar amount, exact to the micro-dollar.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return err
	}
	rows := append([]Row{{Dimension: "total", Key: "", Line: r.Total}}, r.Rows...)
	for _, row := range rows {
		if err := cw.Write(csvRow(row)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvRow(r Row) []string {
	itoa := strconv.Itoa
	return []string{r.Dimension, r.Key, itoa(r.Calls), itoa(r.Failed), itoa(r.Reported), itoa(r.Unpriced), itoa(r.Images),
		itoa(r.Usage.InputTokens), itoa(r.Usage.InputImageTokens), itoa(r.Usage.OutputTokens),
		itoa(r.Usage.OutputImageTokens), itoa(r.Usage.ThoughtTokens), dollars(r.Cost)}
}

func dollars(v provider.USD) string {
	b, _ := v.MarshalText()
	return string(b)
}
