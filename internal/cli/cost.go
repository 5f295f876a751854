package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/cli/ledger"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

const costUsage = `Usage: imagegen cost [flags]

Report spend from the ledger: every call that generate, edit, batch and probe
made (one pricing.Record a line, JSONL), totalled by provider, model, tier and
label. --since and --until bound the records by time.

  imagegen cost --since 24h
  imagegen cost --emulator --format json
`

// Cost is `imagegen cost`.
func Cost(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cost", costUsage, stderr)
	var (
		path       = fs.String("ledger", "", "the ledger `file` (default: the config's, else "+ledger.DefaultPath(false)+")")
		configPath = fs.String("config", "", "config `file` naming the ledger")
		emulator   = fs.Bool("emulator", false, "read the ledger of --emulator runs ("+ledger.DefaultPath(true)+")")
		since      = fs.String("since", "", "only records at or after this `time`: RFC 3339, YYYY-MM-DD or a duration ago (24h)")
		until      = fs.String("until", "", "only records before this `time`: RFC 3339, YYYY-MM-DD or a duration ago")
		format     = fs.String("format", "table", "table, json or csv")
		by         = fs.String("by", "provider,model,tier,label", "the `dimensions` to show, comma-separated")
		labels     = labelsFlag{}
	)
	fs.Var(labels, "label", "only records carrying this `key=value` label (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return provider.InvalidConfig("arguments", strings.Join(fs.Args(), " "), "flags only")
	}
	now := time.Now()
	from, err := parseWhen("--since", *since, now)
	if err != nil {
		return err
	}
	to, err := parseWhen("--until", *until, now)
	if err != nil {
		return err
	}
	if !slices.Contains([]string{"table", "json", "csv"}, *format) {
		return provider.InvalidConfig("--format", *format, "table, json or csv")
	}
	dims := map[string]bool{}
	for _, d := range strings.Split(*by, ",") {
		d = strings.TrimSpace(d)
		if !slices.Contains([]string{"provider", "model", "tier", "label"}, d) {
			return provider.InvalidConfig("--by", d, "provider, model, tier or label")
		}
		dims[d] = true
	}
	p := *path
	if p == "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		p = cfg.Ledger
	}
	if p == "" {
		p = ledger.DefaultPath(*emulator)
	}
	recs, warnings, err := ledger.Read(expandHome(p))
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: %s\n", p, w)
	}
	var kept []pricing.Record
	for _, r := range recs {
		if !from.IsZero() && r.Time.Before(from) || !to.IsZero() && !r.Time.Before(to) {
			continue
		}
		match := true
		for k, v := range labels {
			if r.Labels[k] != v {
				match = false
			}
		}
		if match {
			kept = append(kept, r)
		}
	}
	rep := report(kept, from, to)
	rows := rep.Rows[:0]
	for _, r := range rep.Rows {
		if dims[r.Dimension] {
			rows = append(rows, r)
		}
	}
	rep.Rows = rows
	switch *format {
	case "json":
		return rep.WriteJSON(stdout)
	case "csv":
		return rep.WriteCSV(stdout)
	}
	return writeReportTable(stdout, p, rep)
}

// parseWhen reads a time flag: RFC 3339, a date (UTC) or a duration ago.
func parseWhen(name, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := catalog.ParseDate(v); err == nil {
		return d.Time(), nil
	}
	return time.Time{}, provider.InvalidConfig(name, v, "RFC 3339, YYYY-MM-DD or a duration ago such as 24h")
}

// report totals records the way pricing.Meter does, as a pricing.Report.
func report(recs []pricing.Record, from, to time.Time) *pricing.Report {
	rep := &pricing.Report{From: from, To: to}
	byDim := map[string]map[string]*pricing.Line{"provider": {}, "model": {}, "tier": {}, "label": {}}
	add := func(dim, key string, r pricing.Record) {
		l, ok := byDim[dim][key]
		if !ok {
			l = &pricing.Line{}
			byDim[dim][key] = l
		}
		addRecord(l, r)
	}
	for _, r := range recs {
		if rep.From.IsZero() || r.Time.Before(rep.From) {
			if from.IsZero() {
				rep.From = r.Time
			}
		}
		if to.IsZero() && r.Time.After(rep.To) {
			rep.To = r.Time
		}
		addRecord(&rep.Total, r)
		add("provider", r.Provider, r)
		add("model", r.Model, r)
		add("tier", string(r.Tier), r)
		for k, v := range r.Labels {
			add("label", k+"="+v, r)
		}
	}
	for _, dim := range []string{"provider", "model", "tier", "label"} {
		for _, k := range slices.Sorted(maps.Keys(byDim[dim])) {
			rep.Rows = append(rep.Rows, pricing.Row{Dimension: dim, Key: k, Line: *byDim[dim][k]})
		}
	}
	return rep
}

func addRecord(l *pricing.Line, r pricing.Record) {
	l.Calls++
	if r.Failed {
		l.Failed++
	}
	if r.Reported {
		l.Reported++
	}
	if r.Method == catalog.MethodUnpriced {
		l.Unpriced++
	}
	l.Images += max(r.Images, 0)
	u := r.Usage
	l.Usage.InputTokens += max(u.InputTokens, 0)
	l.Usage.InputImageTokens += max(u.InputImageTokens, 0)
	l.Usage.OutputTokens += max(u.OutputTokens, 0)
	l.Usage.OutputImageTokens += max(u.OutputImageTokens, 0)
	l.Usage.ThoughtTokens += max(u.ThoughtTokens, 0)
	l.Usage.Images += max(u.Images, 0)
	l.Cost += max(r.Cost, 0)
}

func writeReportTable(w io.Writer, path string, rep *pricing.Report) error {
	if rep.Total.Calls == 0 {
		_, err := fmt.Fprintf(w, "no spend recorded in %s for that period\n", path)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BY\tKEY\tCALLS\tFAILED\tIMAGES\tCOST\tPER IMAGE\t")
	line := func(dim, key string, l pricing.Line) {
		per := "-"
		if l.Images > 0 {
			per = (l.Cost / provider.USD(l.Images)).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", dim, key, l.Calls, l.Failed, l.Images, l.Cost, per)
	}
	last := ""
	for _, r := range rep.Rows {
		if r.Dimension != last && last != "" {
			fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
		}
		last = r.Dimension
		line(r.Dimension, r.Key, r.Line)
	}
	fmt.Fprintln(tw, "\t\t\t\t\t\t\t")
	line("total", "", rep.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s, %s to %s\n", path, rep.From.UTC().Format(time.RFC3339), rep.To.UTC().Format(time.RFC3339))
	return err
}
