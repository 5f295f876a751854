package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// BenchmarkTimeToFirstPreview measures, as the browser's EventSource sees
// it, the time from sending GET /generate to the first "preview" event
// and to the "final" event, through the whole server: HTTP, cache, meter,
// budget, retry, provider.Stream, base64 data URLs and SSE framing.
//
//	go test -run '^$' -bench TimeToFirstPreview -benchtime 10x ./examples/previews
//
// "paced" is a provider that sends 3 drafts 300 ms apart, then the final
// image 300 ms later; "instant" sends them with no pause, so its times are
// the server's own cost for a stream of 4 events.
func BenchmarkTimeToFirstPreview(b *testing.B) {
	for _, bc := range []struct {
		name  string
		every time.Duration
	}{
		{"paced", 300 * time.Millisecond},
		{"instant", 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := newTestServer(b, &drafter{drafts: 3, every: bc.every}, config{Previews: 3})
			var first, final time.Duration
			i := 0
			for b.Loop() {
				i++
				_, events := open(b, b.Context(), srv, fmt.Sprintf("a lighthouse, take %d", i)) // a new prompt: no cache hit
				var sawFirst bool
				for ev := range events {
					switch ev.name {
					case "preview":
						if !sawFirst {
							first += ev.at
							sawFirst = true
						}
					case "final":
						final += ev.at
					default:
						b.Fatalf("%s event: %s", ev.name, ev.data)
					}
				}
				if !sawFirst {
					b.Fatal("no preview")
				}
			}
			n := float64(i)
			b.ReportMetric(float64(first.Microseconds())/1000/n, "ms-to-first-preview")
			b.ReportMetric(float64(final.Microseconds())/1000/n, "ms-to-final")
		})
	}
}

var _ provider.Generator = (*drafter)(nil)
