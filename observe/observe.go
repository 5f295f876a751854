package observe

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/imagegen-go/imagegen/provider"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/imagegen-go/imagegen/observe"

// Config configures New. The zero value traces and measures through
// OpenTelemetry's global providers (no-ops until the program sets them)
// and logs nothing.
type Config struct {
	// TracerProvider makes the spans; nil means otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the metrics; nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Logger, when set, gets one line per request and one per decision
	// (see the package doc for levels).
	Logger *slog.Logger
	// RecordPrompts opts in to recording each request's prompt, as
	// gen_ai.input.messages on its span and its log line. Off by default,
	// as the conventions ask: prompts are the user's content.
	RecordPrompts bool
}

// Observer turns requests and the decorators' events into spans, metrics
// and log lines. It is safe for concurrent use.
type Observer struct {
	tracer  trace.Tracer
	log     *slog.Logger
	prompts bool
	m       instruments

	setCache sync.Map // setsKey → *metricSets
	names    sync.Map // [2]string{op, model} → span name
	cached   atomic.Int32
}

// instruments are the metrics an Observer records.
type instruments struct {
	duration     metric.Float64Histogram // gen_ai.client.operation.duration
	tokens       metric.Int64Histogram   // gen_ai.client.token.usage
	cost         metric.Float64Counter   // imagegen.cost
	images       metric.Int64Counter     // imagegen.images
	cacheHits    metric.Int64Counter     // imagegen.cache.hits
	cacheMisses  metric.Int64Counter     // imagegen.cache.misses
	retries      metric.Int64Counter     // imagegen.retries
	limiterWait  metric.Float64Histogram // imagegen.ratelimit.wait
	refusals     metric.Int64Counter     // imagegen.ratelimit.refusals
	breakerState metric.Int64Gauge       // imagegen.breaker.state

	hit, shared []metric.AddOption // imagegen.cache.result hit, shared
}

// Bucket boundaries the GenAI conventions recommend.
var (
	// DurationBuckets, in seconds, for gen_ai.client.operation.duration
	// and imagegen.ratelimit.wait.
	DurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	// TokenBuckets for gen_ai.client.token.usage.
	TokenBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

// New returns an Observer for cfg. It fails only when the meter provider
// refuses to make an instrument.
func New(cfg Config) (*Observer, error) {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	o := &Observer{tracer: tp.Tracer(ScopeName), log: cfg.Logger, prompts: cfg.RecordPrompts}
	mt := mp.Meter(ScopeName)
	var err error
	check := func(e error) {
		if err == nil {
			err = e
		}
	}
	var e error
	o.m.duration, e = mt.Float64Histogram("gen_ai.client.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of GenAI operations: one image request, retries and failover included"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	check(e)
	o.m.tokens, e = mt.Int64Histogram("gen_ai.client.token.usage", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens billed per request, by gen_ai.token.type (input, output)"),
		metric.WithExplicitBucketBoundaries(TokenBuckets...))
	check(e)
	o.m.cost, e = mt.Float64Counter("imagegen.cost", metric.WithUnit("{USD}"),
		metric.WithDescription("What requests cost, as priced by the pricing meter"))
	check(e)
	o.m.images, e = mt.Int64Counter("imagegen.images", metric.WithUnit("{image}"),
		metric.WithDescription("Images returned"))
	check(e)
	o.m.cacheHits, e = mt.Int64Counter("imagegen.cache.hits", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the cache answered, by imagegen.cache.result (hit, shared)"))
	check(e)
	o.m.cacheMisses, e = mt.Int64Counter("imagegen.cache.misses", metric.WithUnit("{request}"),
		metric.WithDescription("Requests the cache sent upstream"))
	check(e)
	o.m.retries, e = mt.Int64Counter("imagegen.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Tries the retry decorator scheduled after a failure, by the failure's error.type"))
	check(e)
	o.m.limiterWait, e = mt.Float64Histogram("imagegen.ratelimit.wait", metric.WithUnit("s"),
		metric.WithDescription("Time calls waited in the rate limiter, by imagegen.reason"),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
	check(e)
	o.m.refusals, e = mt.Int64Counter("imagegen.ratelimit.refusals", metric.WithUnit("{call}"),
		metric.WithDescription("Calls the rate limiter refused, by imagegen.reason"))
	check(e)
	o.m.breakerState, e = mt.Int64Gauge("imagegen.breaker.state", metric.WithUnit("1"),
		metric.WithDescription("State of each failover route's circuit breaker: 0 closed, 1 open, 2 half-open"))
	check(e)
	if err != nil {
		return nil, err
	}
	o.m.hit = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyCacheResult.String("hit")))}
	o.m.shared = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyCacheResult.String("shared")))}
	return o, nil
}

// Middleware returns the decorator that records every request: a span
// (with a child span per upstream attempt), the request metrics and a log
// line, and that turns the events of every layer below it into span
// events, metrics and log lines. Place it outermost, above the cache, so
// that it sees every request and every decision:
//
//	gen := provider.Chain(routes, obs.Middleware(), cached, meter.Middleware())
func (o *Observer) Middleware() provider.Middleware {
	return func(next provider.Generator) provider.Generator {
		return provider.Wrap(next, func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
			if req == nil {
				return next.Generate(ctx, req)
			}
			return o.generate(ctx, next, req)
		})
	}
}

// HandleEvent records an event that reaches no request's middleware: a
// breaker's change of state (set it as failover.Config.OnBreakerChange),
// or events of a stack without the middleware (through
// provider.HandleEvents). It records the event's metrics, logs it, and
// adds it to the span in ctx, if that span records. Do not install it
// where the middleware already sees the events, or they count twice.
func (o *Observer) HandleEvent(ctx context.Context, e provider.Event) {
	o.measure(ctx, e)
	o.logEvent(ctx, e)
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.AddEvent(e.Kind.String(), trace.WithAttributes(eventAttrs(e)...))
	}
}

// measure records the metrics of an event.
func (o *Observer) measure(ctx context.Context, e provider.Event) {
	switch e.Kind {
	case provider.EventCacheHit:
		o.m.cacheHits.Add(ctx, 1, o.m.hit...)
	case provider.EventCacheShared:
		o.m.cacheHits.Add(ctx, 1, o.m.shared...)
	case provider.EventCacheMiss:
		o.m.cacheMisses.Add(ctx, 1)
	case provider.EventRetryAttempt:
		if e.Wait > 0 {
			o.m.retries.Add(ctx, 1, metric.WithAttributes(keyProvider.String(providerName(e.Provider)), keyErrorType.String(ErrorType(e.Err))))
		}
	case provider.EventRateLimitWaited:
		o.m.limiterWait.Record(ctx, e.Wait.Seconds(), metric.WithAttributes(keyProvider.String(providerName(e.Provider)), keyReason.String(e.Reason)))
	case provider.EventRateLimitRefused:
		o.m.refusals.Add(ctx, 1, metric.WithAttributes(keyProvider.String(providerName(e.Provider)), keyReason.String(e.Reason)))
	case provider.EventBreakerChanged:
		o.m.breakerState.Record(ctx, breakerValue(e.To), metric.WithAttributes(keyRoute.String(e.Route)))
	}
}

// logEvent writes the log line of an event.
func (o *Observer) logEvent(ctx context.Context, e provider.Event) {
	if o.log == nil {
		return
	}
	level := eventLevel(e)
	if !o.log.Enabled(ctx, level) {
		return
	}
	o.log.LogAttrs(ctx, level, e.Kind.String(), slogAttrs(eventAttrs(e), traceAttrs(ctx)...)...)
}

// traceAttrs are the trace and span IDs of ctx's span, to find a log
// line's trace.
func traceAttrs(ctx context.Context) []slog.Attr {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return []slog.Attr{slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String())}
}

// request is what the middleware learns of one request from the events
// of the layers below it.
type request struct {
	o    *Observer
	span trace.Span // the request's span; may not record

	mu       sync.Mutex
	ended    bool
	waited   time.Duration // limiter waits not yet part of an attempt
	attempts []attempt     // in order; those from unrouted on await their route
	unrouted int           // index of the first retry try no route event claimed yet
	route    string        // the route that served
	scope    string        // the budget scopes charged
}

// attempt is one upstream attempt, to become a child span.
type attempt struct {
	start, end  time.Time
	number      int
	route       string
	provider    string
	model       string
	calls       int
	err         error
	retryWait   time.Duration // the wait before the next try
	reason      string        // why that wait, or why retrying stopped
	limiterWait time.Duration // time the limiter held the attempt
}

// handle is the request's event handler.
func (r *request) handle(ctx context.Context, e provider.Event) {
	r.o.measure(ctx, e)
	r.o.logEvent(ctx, e)
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return // an event of a shared call that outlived this request
	}
	switch e.Kind {
	case provider.EventRateLimitWaited:
		r.waited += e.Wait
	case provider.EventRetryAttempt:
		if e.Calls > 0 {
			r.attempts = append(r.attempts, attempt{start: now.Add(-e.Duration), end: now, number: e.Attempt,
				provider: e.Provider, model: e.Model, calls: e.Calls, err: e.Err,
				retryWait: e.Wait, reason: e.Reason, limiterWait: r.waited})
		}
		r.waited = 0
		if e.Calls > 0 {
			return // a child span, not a span event
		}
	case provider.EventRouteTried:
		if e.Err == nil {
			r.route = e.Route
		}
		switch {
		case r.unrouted < len(r.attempts):
			for i := r.unrouted; i < len(r.attempts); i++ {
				r.attempts[i].route = e.Route
			}
			r.unrouted = len(r.attempts)
			r.waited = 0
			return
		case e.Calls > 0:
			r.attempts = append(r.attempts, attempt{start: now.Add(-e.Duration), end: now, number: 1, route: e.Route,
				provider: e.Provider, model: e.Model, calls: e.Calls, err: e.Err, limiterWait: r.waited})
			r.unrouted = len(r.attempts)
			r.waited = 0
			return
		}
	case provider.EventBudgetReserved, provider.EventBudgetRefused:
		r.scope = e.Scope
	}
	if r.span.IsRecording() {
		r.span.AddEvent(e.Kind.String(), trace.WithAttributes(eventAttrs(e)...))
	}
}

// generate serves req through next, recording it.
func (o *Observer) generate(ctx context.Context, next provider.Generator, req *provider.Request) (*provider.Response, error) {
	start := time.Now()
	d := provider.Describe(next)
	model := req.Model
	if model == "" {
		model = d.Model
	}
	op := operation(d.Provider)
	// One slice for the span's attributes: those known at the start
	// (which samplers see), then those of the outcome.
	attrs := make([]attribute.KeyValue, 0, 20)
	attrs = append(attrs,
		keyOperation.String(op),
		keyProvider.String(providerName(d.Provider)),
		keyRequestModel.String(model),
		keyOutputType.String("image"),
		keyN.Int(req.Count()),
	)
	if req.Size != "" {
		attrs = append(attrs, keySize.String(req.Size))
	}
	if req.Seed != nil {
		attrs = append(attrs, keySeed.Int64(*req.Seed))
	}
	if o.prompts {
		attrs = append(attrs, keyInputMessages.String(inputMessages(req.Prompt)))
	}
	first := len(attrs)
	ctx, span := o.tracer.Start(ctx, o.spanName(op, model), internalSpan, trace.WithAttributes(attrs...))
	r := &request{o: o, span: span}
	resp, err := next.Generate(provider.WithEventHandler(ctx, r.handle), req)
	end := time.Now()

	r.mu.Lock()
	r.ended = true
	route, scope := r.route, r.scope
	r.mu.Unlock()

	// What the request came to.
	prov, respModel, cached := d.Provider, "", false
	var usage provider.Usage
	var cost provider.USD
	images, attempts := 0, 0
	if resp != nil {
		if resp.Provider != "" {
			prov = resp.Provider
		}
		respModel, cached, usage, cost, images = resp.Model, resp.Cached, resp.Usage, resp.Cost, len(resp.Images)
		if err == nil {
			attempts = resp.Attempts
		}
	} else if u, ok := provider.BilledUsage(err); ok {
		usage = u
	}
	if err != nil {
		attempts = provider.AttemptsOf(err)
	}
	errType := ErrorType(err)
	billed := !cached && !usage.IsZero()

	sets := o.sets(op, prov, model, respModel, errType, cached)
	o.m.duration.Record(ctx, end.Sub(start).Seconds(), sets.record...)
	if billed {
		o.m.tokens.Record(ctx, int64(usage.InputTokens), sets.input...)
		o.m.tokens.Record(ctx, int64(usage.OutputTokens+usage.ThoughtTokens), sets.output...)
	}
	if cost > 0 {
		o.m.cost.Add(ctx, cost.Dollars(), sets.add...)
	}
	if images > 0 {
		o.m.images.Add(ctx, int64(images), sets.add...)
	}

	recording := span.IsRecording()
	if !recording && o.log == nil {
		return resp, err
	}
	// The span and the log line share the request's attributes.
	name := providerName(prov)
	served := prov != d.Provider
	if served {
		// Who served, not who was described: the span gets it at
		// attrs[first], after its start attributes; the log line in
		// place of the first value.
		attrs[1] = keyProvider.String(name)
		attrs = append(attrs, attrs[1])
	}
	if name != prov {
		attrs = append(attrs, keyImagegenProvider.String(prov))
	}
	if respModel != "" {
		attrs = append(attrs, keyResponseModel.String(respModel))
	}
	if billed {
		attrs = append(attrs, keyInputTokens.Int(usage.InputTokens), keyOutputTokens.Int(usage.OutputTokens+usage.ThoughtTokens))
	}
	attrs = append(attrs, keyCost.Float64(cost.Dollars()), keyCached.Bool(cached), keyAttempts.Int(attempts), keyImages.Int(images))
	if route != "" {
		attrs = append(attrs, keyRoute.String(route))
	}
	if scope != "" {
		attrs = append(attrs, keyScope.String(scope))
	}
	if errType != "" {
		attrs = append(attrs, keyErrorType.String(errType))
	}
	if recording {
		r.attemptSpans(ctx, op, d.Provider, model, start, end, resp, err)
		span.SetAttributes(attrs[first:]...)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	skip := -1 // the log line names the provider once
	if served {
		skip = first
	}
	o.logRequest(ctx, start, end, attrs, skip, err)
	return resp, err
}

// metricSets are the attributes of one kind of request's metrics, as the
// option lists of each measurement (made once: a variadic list made at
// each call would be allocated at each call).
type metricSets struct {
	record        []metric.RecordOption // duration
	add           []metric.AddOption    // cost, images
	input, output []metric.RecordOption // token usage
}

// setsKey is what tells kinds of request apart in the metrics.
type setsKey struct {
	op, provider, model, respModel, errType string
	cached                                  bool
}

// maxCached bounds the attribute sets and span names an Observer keeps,
// in case request models are unbounded: past it, they are made for each
// request.
const maxCached = 2048

// sets returns the metric attribute sets of a kind of request, made once.
func (o *Observer) sets(op, prov, model, respModel, errType string, cached bool) *metricSets {
	k := setsKey{op, prov, model, respModel, errType, cached}
	if s, ok := o.setCache.Load(k); ok {
		return s.(*metricSets)
	}
	kv := make([]attribute.KeyValue, 0, 7)
	kv = append(kv, keyOperation.String(op), keyProvider.String(providerName(prov)), keyRequestModel.String(model))
	if respModel != "" {
		kv = append(kv, keyResponseModel.String(respModel))
	}
	if errType != "" {
		kv = append(kv, keyErrorType.String(errType))
	}
	tok := len(kv)
	kv = append(kv, keyCached.Bool(cached))
	request := metric.WithAttributeSet(attribute.NewSet(kv...))
	s := &metricSets{record: []metric.RecordOption{request}, add: []metric.AddOption{request}}
	kv[tok] = keyTokenType.String("input")
	s.input = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
	kv[tok] = keyTokenType.String("output")
	s.output = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
	if o.cached.Load() < maxCached {
		if _, loaded := o.setCache.LoadOrStore(k, s); !loaded {
			o.cached.Add(1)
		}
	}
	return s
}

// spanName returns "{operation} {model}", made once per model.
func (o *Observer) spanName(op, model string) string {
	k := [2]string{op, model}
	if n, ok := o.names.Load(k); ok {
		return n.(string)
	}
	n := op + " " + model
	if o.cached.Load() < maxCached {
		if _, loaded := o.names.LoadOrStore(k, n); !loaded {
			o.cached.Add(1)
		}
	}
	return n
}

// Span start options every span of a kind shares.
var (
	internalSpan = trace.WithSpanKind(trace.SpanKindInternal)
	clientSpan   = trace.WithSpanKind(trace.SpanKindClient)
)

// attemptSpans records the request's attempts as child spans of its span
// (in ctx): those the retry and failover events described, or, when no
// event did and the request went upstream, one for the whole call.
func (r *request) attemptSpans(ctx context.Context, op, prov, model string, start, end time.Time, resp *provider.Response, err error) {
	r.mu.Lock()
	attempts := r.attempts
	r.attempts = nil
	r.mu.Unlock()
	if len(attempts) == 0 && wentUpstream(resp, err) {
		attempts = append(attempts, attempt{start: start, end: end, number: 1, provider: prov, model: model, err: err})
	}
	for i, a := range attempts {
		aprov := a.provider
		if aprov == "" {
			aprov = prov
		}
		amodel := a.model
		if amodel == "" {
			amodel = model
		}
		aop := operation(aprov)
		attrs := make([]attribute.KeyValue, 0, 14)
		attrs = append(attrs, keyOperation.String(aop), keyProvider.String(providerName(aprov)),
			keyImagegenProvider.String(aprov), keyRequestModel.String(amodel), keyAttempt.Int(a.number))
		if a.route != "" {
			attrs = append(attrs, keyRoute.String(a.route))
		}
		if a.calls > 1 {
			attrs = append(attrs, keyCalls.Int(a.calls))
		}
		if a.limiterWait > 0 {
			attrs = append(attrs, keyLimiterWait.Float64(a.limiterWait.Seconds()))
		}
		if a.retryWait > 0 {
			attrs = append(attrs, keyRetryWait.Float64(a.retryWait.Seconds()))
		}
		if a.reason != "" {
			attrs = append(attrs, keyReason.String(a.reason))
		}
		last := i == len(attempts)-1
		if a.err == nil && last && resp != nil && err == nil {
			if resp.Model != "" {
				attrs = append(attrs, keyResponseModel.String(resp.Model))
			}
			if !resp.Usage.IsZero() {
				attrs = append(attrs, keyInputTokens.Int(resp.Usage.InputTokens),
					keyOutputTokens.Int(resp.Usage.OutputTokens+resp.Usage.ThoughtTokens))
			}
		}
		if a.err != nil {
			attrs = append(attrs, keyErrorType.String(ErrorType(a.err)))
		}
		_, span := r.o.tracer.Start(ctx, r.o.spanName(aop, amodel), clientSpan,
			trace.WithTimestamp(a.start), trace.WithAttributes(attrs...))
		if a.err != nil {
			span.SetStatus(codes.Error, a.err.Error())
		}
		span.End(trace.WithTimestamp(a.end))
	}
}

// logRequest writes the request's log line: Info when it succeeded, Warn
// when it failed.
func (o *Observer) logRequest(ctx context.Context, start, end time.Time, attrs []attribute.KeyValue, skip int, err error) {
	if o.log == nil {
		return
	}
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	if !o.log.Enabled(ctx, level) {
		return
	}
	extra := []slog.Attr{slog.Float64("imagegen.duration", end.Sub(start).Seconds())}
	if err != nil {
		extra = append(extra, slog.String(string(keyErrorMessage), err.Error()))
	}
	extra = append(extra, traceAttrs(ctx)...)
	if skip >= 0 {
		attrs = slices.Delete(slices.Clone(attrs), skip, skip+1)
	}
	o.log.LogAttrs(ctx, level, "imagegen.generate", slogAttrs(attrs, extra...)...)
}

// wentUpstream guesses, for a stack whose layers said nothing of their
// attempts, whether the request reached a provider: it was served and not
// from the cache, or failed in a way only a provider fails.
func wentUpstream(resp *provider.Response, err error) bool {
	if err == nil {
		return resp != nil && !resp.Cached
	}
	switch provider.KindOf(err) {
	case provider.KindBudgetExceeded, provider.KindInvalidRequest:
		return false
	}
	return !provider.IsLocal(err) && !errors.Is(err, context.Canceled) && provider.AttemptsOf(err) > 0
}
