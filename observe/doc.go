// Package observe records image requests as OpenTelemetry traces and
// metrics, following the GenAI semantic conventions, and as structured
// log lines through log/slog. It is the only package of this module that
// imports go.opentelemetry.io/otel.
//
// It is fed by the decorators' events (provider.Event): one middleware,
// placed outermost, sees every request and every decision below it.
//
//	obs, err := observe.New(observe.Config{
//		TracerProvider: tp,     // nil: otel.GetTracerProvider()
//		MeterProvider:  mp,     // nil: otel.GetMeterProvider()
//		Logger:         logger, // nil: no log lines
//	})
//	if err != nil { ... }
//	routes, err := failover.New(failover.Config{Routes: ..., OnBreakerChange: obs.HandleEvent})
//	gen := provider.Chain(routes, obs.Middleware(), cached, meter.Middleware())
//
// # Spans
//
// One span per Generate (kind INTERNAL), named "{gen_ai.operation.name}
// {gen_ai.request.model}", and under it one CLIENT span per upstream
// attempt: each try the retry decorator reports, each route failover
// called without a retry decorator inside it, or, when no layer reports
// its attempts, one for the whole call when it went upstream. A cache hit
// has no child span. Attempt spans are made when the request ends, from
// the start and duration the events carry, so spans that other
// instrumentation (an HTTP client's) opens during the request are
// children of the request's span, not of an attempt's.
//
// Request span attributes: gen_ai.operation.name, gen_ai.provider.name,
// gen_ai.request.model, gen_ai.output.type ("image"), gen_ai.request.seed
// (when set), gen_ai.response.model, gen_ai.usage.input_tokens,
// gen_ai.usage.output_tokens (thinking included, as billed), error.type,
// and imagegen.provider (the adapter's own name, when
// gen_ai.provider.name is another), imagegen.cost (USD),
// imagegen.cached, imagegen.attempts (upstream calls), imagegen.images,
// imagegen.route (the failover route that served), imagegen.size,
// imagegen.n and imagegen.budget.scope. Every other decision (cache,
// budget, rate limit, routes skipped, locally refused tries) is a span
// event named after its kind ("cache.hit", "ratelimit.waited", ...) with
// its details as imagegen.* attributes.
//
// Attempt span attributes: gen_ai.operation.name, gen_ai.provider.name,
// gen_ai.request.model, imagegen.attempt (the try's number on its route),
// imagegen.route, imagegen.ratelimit.wait (seconds the limiter held it),
// imagegen.retry.wait and imagegen.reason (the wait before the next try
// and why: "backoff", "hint"; or why retrying stopped), error.type; the
// attempt that served also gen_ai.response.model and the usage.
//
// gen_ai.operation.name is "generate_content" for Gemini's
// generateContent and "generate_image" for the other protocols (the
// conventions define no image operation yet; a custom value is allowed).
// gen_ai.provider.name maps "gemini" to "gcp.gemini", "vertex" to
// "gcp.vertex_ai", "imagen" to "gcp.gen_ai", and keeps other names
// ("openai", "openrouter"). error.type is one of the values ErrorType
// lists.
//
// # Metrics
//
//   - gen_ai.client.operation.duration (histogram, s; DurationBuckets),
//     per request, with gen_ai.operation.name, gen_ai.provider.name,
//     gen_ai.request.model, gen_ai.response.model, error.type and
//     imagegen.cached;
//   - gen_ai.client.token.usage (histogram, {token}; TokenBuckets), per
//     request that went upstream, with gen_ai.token.type input or output;
//   - imagegen.cost ({USD}) and imagegen.images ({image}), counters with
//     the duration's attributes;
//   - imagegen.cache.hits (imagegen.cache.result hit or shared) and
//     imagegen.cache.misses, counters;
//   - imagegen.retries, a counter of tries scheduled after a failure, by
//     gen_ai.provider.name and error.type;
//   - imagegen.ratelimit.wait (histogram, s) and imagegen.ratelimit.refusals
//     (counter), by gen_ai.provider.name and imagegen.reason;
//   - imagegen.breaker.state, a gauge per imagegen.route: 0 closed, 1 open,
//     2 half-open, recorded at each change (install HandleEvent as
//     failover.Config.OnBreakerChange).
//
// # Logs
//
// With Config.Logger, each request is one "imagegen.generate" line (Info,
// or Warn when it failed) with the span's attributes, its duration and its
// trace and span IDs, and each decision one line named after its kind:
// Debug for bookkeeping (cache hits and misses, reservations, a try or
// route that served), Info for what delayed the request (a retry
// scheduled, a rate-limit wait, a breaker half-open or closed), Warn for
// what failed or refused it (a route failed or skipped for its health, a
// rate-limit or budget refusal, a budget alert, a breaker opened, a cache
// store error, the last failed try).
//
// # Privacy
//
// Prompts are recorded only with Config.RecordPrompts, as
// gen_ai.input.messages (JSON) on the request's span and log line. Images
// are never recorded; neither are keys: no event, request or response
// carries one, and errors are free of them.
package observe
