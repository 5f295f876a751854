package pricing

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// MeterConfig configures a Meter. The zero value meters with the default
// catalog and no budget.
type MeterConfig struct {
	// Catalog prices responses; nil means catalog.Default().
	Catalog *catalog.Catalog
	// Budget, when set, reserves an estimate before every call (refusing
	// with provider.ErrBudgetExceeded before any network traffic) and
	// settles it to the actual cost after.
	Budget *Budget
	// Clock tells the time of each record; nil means
	// provider.SystemClock().
	Clock provider.Clock
	// OnRecord receives every record synchronously, after totals are
	// updated: persist or export them here. It must not block for long.
	OnRecord func(Record)
}

// Record is one metered call: a response, or a failure the provider billed.
type Record struct {
	Time     time.Time         `json:"time"`
	Provider string            `json:"provider"`
	Model    string            `json:"model"`
	Tier     catalog.Tier      `json:"tier"`
	Labels   map[string]string `json:"labels,omitempty"`
	Usage    provider.Usage    `json:"usage"`
	Cost     provider.USD      `json:"cost"`
	Method   catalog.Method    `json:"method"`
	Estimate provider.USD      `json:"estimate,omitzero"`  // reserved before the call, when a budget is set
	Images   int               `json:"images"`             // images returned
	Reported bool              `json:"reported,omitempty"` // Cost is the provider's or relay's own figure
	Failed   bool              `json:"failed,omitempty"`   // the call failed but was billed
	Err      string            `json:"error,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

// Meter prices every response that passes through its middleware, sets
// Response.Cost, keeps totals by provider, model and label, and (with a
// Budget) enforces caps. It is safe for concurrent use.
type Meter struct {
	cat      *catalog.Catalog
	budget   *Budget
	clock    func() time.Time
	onRecord func(Record)

	mu     sync.Mutex
	totals tally
	since  time.Time
}

// tally is a meter's totals, each line updated in place: one map lookup
// per dimension and call, and no key built for a label seen before.
type tally struct {
	all        Line
	byProvider map[string]*Line
	byModel    map[string]*Line
	byLabel    map[string]*Line // "key=value"
	byTier     map[catalog.Tier]*Line
}

func newTally() tally {
	return tally{byProvider: map[string]*Line{}, byModel: map[string]*Line{}, byLabel: map[string]*Line{}, byTier: map[catalog.Tier]*Line{}}
}

// NewMeter returns a Meter for cfg. Every MeterConfig is valid today; the
// error is there so that a field added later can be checked without
// breaking callers.
func NewMeter(cfg MeterConfig) (*Meter, error) {
	m := &Meter{cat: cfg.Catalog, budget: cfg.Budget, clock: provider.ClockOr(cfg.Clock).Now, onRecord: cfg.OnRecord}
	if m.cat == nil {
		m.cat = catalog.Default()
	}
	m.since = m.clock()
	m.totals = newTally()
	return m, nil
}

// Middleware returns the metering decorator. Place it inside the cache and
// outside failover (see provider's package doc), so that cache hits cost
// nothing and a request is reserved once whichever route serves it.
//
// The model priced is Response.Model (who served), else Request.Model, else
// the model the wrapped generator describes; the provider likewise. The
// tier is TierOf(next, req). A nil request is provider.ErrInvalidRequest.
// With a budget, a request that fails provider.Request.Validate or
// provider.CheckRequest(next, req) returns that error before anything is
// reserved; a call refused by the budget returns its *provider.Error
// without calling next. A failed call whose error carries
// billed usage (provider.BilledUsage: Gemini thinking tokens on a blocked
// prompt, a relay's HTTP 200 without an image) is priced, recorded as
// Failed and settled against the budget as actual spend.
func (m *Meter) Middleware() provider.Middleware {
	return func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			return m.generate(ctx, next, req)
		})
	}
}

func (m *Meter) generate(ctx context.Context, next provider.Generator, req *provider.Request) (resp *provider.Response, err error) {
	if req == nil {
		return nil, req.Validate() // ErrInvalidRequest: nil request
	}
	// Who serves is known from the response; the description is the
	// fallback for errors and responses that do not say.
	var (
		d         provider.Description
		described bool
	)
	origin := func() (prov, model string) {
		if !described {
			d, described = provider.Describe(next), true
		}
		if req.Model != "" {
			return d.Provider, req.Model
		}
		return d.Provider, d.Model
	}
	tier := TierOf(next, req)

	var res *Reservation
	settled := false
	if m.budget != nil {
		// Validate before estimating: a request no generator can serve
		// (N=10000, a size the model lacks) is ErrInvalidRequest, not
		// ErrBudgetExceeded, and reserves nothing.
		if err := req.Validate(); err != nil {
			prov, model := origin()
			return nil, provider.WithOrigin(err, prov, model)
		}
		if err := provider.CheckRequest(next, req); err != nil {
			return nil, err
		}
		res, err = m.budget.Reserve(ctx, req.Labels, m.estimate(next, tier, req))
		if err != nil {
			var pe *provider.Error
			if errors.As(err, &pe) && pe.Kind == provider.KindBudgetExceeded {
				pe.Provider, pe.Model = origin()
			}
			return nil, err
		}
		defer func() {
			if !settled {
				// next panicked: count the estimate as spent (safe).
				_ = m.budget.Settle(detach(ctx), res, res.Amount)
			}
		}()
	}

	resp, err = next.Generate(ctx, req)

	prov, model := "", req.Model
	if err != nil || resp == nil || resp.Provider == "" || (resp.Model == "" && model == "") {
		prov, model = origin()
	}
	rec, c, priced := m.price(prov, model, tier, req, resp, err)

	if res != nil {
		rec.Estimate = res.Amount
		if c.Amount > res.Amount {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("cost %v exceeded the budget estimate %v", c.Amount, res.Amount))
		}
		serr := m.budget.settle(detach(ctx), res, c.Amount, provider.Listening(ctx))
		settled = true
		if serr != nil {
			rec.Warnings = append(rec.Warnings, "budget: "+serr.Error())
		}
	}
	return m.finish(rec, c, priced, resp, err)
}

// estimate is what to reserve for req: the dearest estimate over every
// generator that may serve it (failover's routes), so that falling over to
// a dearer provider cannot overshoot the cap. Each route's model is
// Request.Model when set; a model the catalog cannot price is reserved at
// the route's declared MaxCostPerImage (Ceiling), else the budget's
// default.
func (m *Meter) estimate(next provider.Generator, tier catalog.Tier, req *provider.Request) provider.USD {
	var est provider.USD
	for _, d := range provider.Candidates(next) {
		model := req.Model
		if model == "" {
			model = d.Model
		}
		est = max(est, m.budget.estimate(model, tier, req, d.MaxCostPerImage))
	}
	return est
}

// finish records rec and returns a copy of resp with its cost set.
func (m *Meter) finish(rec Record, c catalog.Cost, priced bool, resp *provider.Response, err error) (*provider.Response, error) {
	if resp != nil && err == nil {
		out := *resp
		out.Cost = c.Amount
		if len(rec.Warnings) > 0 {
			out.Warnings = append(slices.Clip(resp.Warnings), rec.Warnings...)
		}
		resp = &out
	}
	if priced {
		m.add(&rec)
		if m.onRecord != nil {
			rec.Labels = maps.Clone(rec.Labels) // the record is the receiver's; the labels are the request's
			m.onRecord(rec)
		}
	}
	return resp, err
}

// detach returns ctx without its cancellation (context.WithoutCancel),
// without allocating when it has none.
func detach(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// price computes the record of one call: its response, or the billed usage
// its error carries. priced is false for a failure nothing was billed for.
// rec.Labels is req.Labels itself: finish copies it for OnRecord.
func (m *Meter) price(prov, model string, tier catalog.Tier, req *provider.Request, resp *provider.Response, err error) (rec Record, c catalog.Cost, priced bool) {
	rec = Record{Time: m.clock(), Provider: prov, Model: model, Tier: tier, Labels: req.Labels}
	switch {
	case err != nil:
		if u, billed := provider.BilledUsage(err); billed {
			var pe *provider.Error
			if errors.As(err, &pe) {
				if pe.Model != "" {
					rec.Model = pe.Model
				}
				if pe.Provider != "" {
					rec.Provider = pe.Provider
				}
			}
			c = m.cat.UsageCostOf(rec.Model, tier, req, u, 0)
			rec.Usage, rec.Failed, rec.Err = u, true, err.Error()
			priced = true
		}
	case resp != nil:
		if resp.Model != "" {
			rec.Model = resp.Model
		}
		if resp.Provider != "" {
			rec.Provider = resp.Provider
		}
		c = m.cat.CostOf(rec.Model, tier, req, resp)
		rec.Usage, rec.Images = resp.Usage, len(resp.Images)
		priced = true
	}
	// Totals never go down: a negative count or cost from a broken answer
	// counts as zero.
	c.Amount = max(c.Amount, 0)
	rec.Usage = nonNegative(rec.Usage)
	rec.Images = max(rec.Images, 0)
	rec.Cost, rec.Method, rec.Reported, rec.Warnings = c.Amount, c.Method, c.Method == catalog.MethodReported, c.Warnings
	return rec, c, priced
}

// nonNegative returns u with every negative count set to zero.
func nonNegative(u provider.Usage) provider.Usage {
	for _, p := range []*int{&u.InputTokens, &u.InputImageTokens, &u.OutputTokens, &u.OutputImageTokens, &u.ThoughtTokens, &u.Images, &u.Previews} {
		*p = max(*p, 0)
	}
	return u
}

// Observe prices and records a result obtained without the middleware,
// such as an item of a Gemini Batch Mode job (tier TierBatch), and returns
// resp with Cost set. prov and model name who served when resp does not.
// Observe reserves nothing: to cap a batch job, reserve its estimate with
// Budget.Reserve before submitting it and settle it after.
func (m *Meter) Observe(prov, model string, tier catalog.Tier, req *provider.Request, resp *provider.Response, err error) (*provider.Response, error) {
	if req == nil {
		req = &provider.Request{}
	}
	rec, c, priced := m.price(prov, model, tier, req, resp, err)
	return m.finish(rec, c, priced, resp, err)
}

// Line is a total: calls, billed failures, images, usage and cost.
type Line struct {
	Calls    int            `json:"calls"`
	Failed   int            `json:"failed"`   // billed failures, included in Calls
	Reported int            `json:"reported"` // calls priced by the provider's own figure
	Unpriced int            `json:"unpriced"` // calls the catalog could not price
	Images   int            `json:"images"`
	Usage    provider.Usage `json:"usage"`
	Cost     provider.USD   `json:"cost"`
}

func (l *Line) add(r *Record) {
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
	l.Images += r.Images
	l.Usage = l.Usage.Add(r.Usage)
	l.Cost += r.Cost
}

// Totals are a meter's sums since it was created.
type Totals struct {
	All        Line
	ByProvider map[string]Line
	ByModel    map[string]Line
	ByLabel    map[string]Line // "key=value"
	ByTier     map[catalog.Tier]Line
}

// bump adds r to the line of k in m.
func bump[K comparable](m map[K]*Line, k K, r *Record) {
	if l := m[k]; l != nil {
		l.add(r)
		return
	}
	l := &Line{}
	l.add(r)
	m[k] = l
}

func (m *Meter) add(r *Record) {
	var buf [128]byte
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.totals
	t.all.add(r)
	bump(t.byProvider, r.Provider, r)
	bump(t.byModel, r.Model, r)
	bump(t.byTier, r.Tier, r)
	for k, v := range r.Labels {
		scope := append(append(append(buf[:0], k...), '='), v...)
		// Looked up by the buffer (no allocation); the key string is
		// made only for a new line.
		l := t.byLabel[string(scope)]
		if l == nil {
			l = &Line{}
			t.byLabel[string(scope)] = l
		}
		l.add(r)
	}
}

func lines[K comparable](m map[K]*Line) map[K]Line {
	out := make(map[K]Line, len(m))
	for k, l := range m {
		out[k] = *l
	}
	return out
}

// Totals returns a copy of the totals so far.
func (m *Meter) Totals() Totals {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.totals
	return Totals{
		All:        t.all,
		ByProvider: lines(t.byProvider),
		ByModel:    lines(t.byModel),
		ByLabel:    lines(t.byLabel),
		ByTier:     lines(t.byTier),
	}
}

// Reset clears the totals and starts a new reporting window.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.totals = newTally()
	m.since = m.clock()
}
