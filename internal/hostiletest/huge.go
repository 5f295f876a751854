package hostiletest

import (
	"errors"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// Slack is what the heap may hold beyond an answer's cap: RunHuge's limit
// is the cap + Slack.
const Slack = 64 << 20

// Cap is the cap a huge case runs under: 64 MiB, so that each case
// decodes little (what RunHuge bounds, the heap against the cap + Slack,
// holds whatever the cap; the text cases stay under the adapters' 32 MiB
// JSON cap either way); for the case named defaultCase, defaultCap (the
// adapter's default), so that the default configuration is bounded too.
// Every case at the default cap took seconds of decoding. Under the race
// detector, which makes decoding ten times slower, every case runs at
// 32 MiB.
func Cap(name, defaultCase string, defaultCap int64) int64 {
	switch {
	case Race:
		return 32 << 20
	case name == defaultCase:
		return defaultCap
	}
	return 64 << 20
}

// RunHuge is the parent's side of a huge-answer test: it runs each case of
// cases, in name order and in parallel, in a fresh process of its own
// (Child of the test named child), so that each heap bound is the case's
// own. Each case logs its Peak and the child's verdict, and fails when
// the bound is not under capOf(name) + Slack or the verdict is not "ok".
// In a child process it skips t.
func RunHuge[V any](t *testing.T, child string, cases map[string]V, capOf func(name string) int64) {
	if Case() != "" {
		t.Skip("child process")
	}
	t.Parallel() // each case is a process of its own
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			limit := uint64(capOf(name)) + Slack
			p, detail := Child(t, child, name)
			t.Logf("%s: peak %s sampled, %s bound (limit %s); %s", name, MiB(p.Sampled), MiB(p.Bound), MiB(limit), detail)
			if p.Bound >= limit {
				t.Errorf("heap bound %s, want under %s", MiB(p.Bound), MiB(limit))
			}
			if !strings.HasPrefix(detail, "ok") {
				t.Errorf("child: %s", detail)
			}
		})
	}
}

// ChildCase returns the name and the case of cases this child process
// runs. It skips t in the parent (the test named parent runs the cases)
// and in a child that runs another test's case.
func ChildCase[V any](t testing.TB, cases map[string]V, parent string) (string, V) {
	t.Helper()
	name := Case()
	tc, ok := cases[name]
	if !ok {
		t.Skip("run by " + parent)
	}
	return name, tc
}

// Want is how a huge answer must end: a *provider.Error of KindUnavailable
// with this Code and StatusCode.
type Want struct {
	Code   string
	Status int
	// AnyStatus leaves StatusCode unchecked.
	AnyStatus bool
	// ErrorMessage, when set, must be in the error's Message when Status
	// is not 200: what the adapter says of an error answer it cut.
	ErrorMessage string
}

// Answer is one huge answer a child serves: see ServeHuge.
type Answer struct {
	body  Body
	stats func() *Stats
}

// ServeHuge is the child's side of a huge-answer test: it starts a server
// answering with b, Huge bytes long, for the generator under test to
// call in Check.
func ServeHuge(t testing.TB, b Body) (*httptest.Server, *Answer) {
	t.Helper()
	b.Size = Huge
	srv, stats := Serve(t, b)
	return srv, &Answer{body: b, stats: stats}
}

// Check runs call under Measure and Reports its Peak with a verdict for
// RunHuge: "ok" when call's error is want and the client closed the
// connection before the end of the answer, what went wrong otherwise;
// then call's error and duration, note (what call returned, for
// instance the previews it saw), and what the server wrote.
func (a *Answer) Check(want Want, call func() (note string, err error)) {
	var note string
	var genErr error
	start := time.Now()
	peak := Measure(func() {
		note, genErr = call()
	})
	elapsed := time.Since(start)
	written, wire, closed := a.stats().Wait(10 * time.Second)
	var pe *provider.Error
	detail := "ok"
	switch {
	case !errors.As(genErr, &pe):
		detail = fmt.Sprintf("untyped error %v", genErr)
	case want.AnyStatus && (pe.Code != want.Code || pe.Kind != provider.KindUnavailable):
		detail = fmt.Sprintf("got %v (code %q status %d), want %s", pe, pe.Code, pe.StatusCode, want.Code)
	case !want.AnyStatus && (pe.Code != want.Code || pe.StatusCode != want.Status || pe.Kind != provider.KindUnavailable ||
		(want.Status != 200 && want.ErrorMessage != "" && !strings.Contains(pe.Message, want.ErrorMessage))):
		detail = fmt.Sprintf("got %v (code %q status %d), want code %q status %d", pe, pe.Code, pe.StatusCode, want.Code, want.Status)
	case !a.body.Gzip && (written >= Huge || !closed):
		// (A gzip bomb is 2 MiB on the wire: it fits in the sockets'
		// buffers, so the server cannot see the client close; capture's
		// tests check that with a larger one.)
		detail = fmt.Sprintf("the connection was drained: server wrote %d bytes, closed early %v", written, closed)
	}
	Report(peak, fmt.Sprintf("%s; %v in %v%s; server wrote %s (%s on the wire)", detail, genErr, elapsed.Round(time.Millisecond),
		note, MiB(uint64(written)), MiB(uint64(wire))))
}
