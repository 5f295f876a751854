// Package provider is imagegen's contract: the Generator interface every
// provider adapter implements, the Request and Response it carries, the
// typed errors every failure maps to, and Middleware, the shape of every
// production concern (retry, rate limiting, caching, metering, failover).
//
// It imports nothing outside the standard library, so code that only
// consumes generators (and tests that fake them with GeneratorFunc) stays
// light.
//
// # Errors
//
// Every failure is an *Error whose Kind says what happened in provider-neutral
// terms. Each Kind has a sentinel for errors.Is:
//
//	resp, err := gen.Generate(ctx, req)
//	switch {
//	case errors.Is(err, provider.ErrContentBlocked):
//		// rephrase
//	case provider.IsRetryable(err):
//		d, _ := provider.RetryAfter(err) // the provider's own hint, if any
//	}
//
// Bad input is rejected with ErrInvalidRequest before any network call;
// Request.Validate holds the checks common to every provider.
//
// # Composition order
//
// Decorators compose with Chain, whose first middleware is the outermost
// layer; Compose makes one middleware of several, so a stack is a value.
// The recommended order, outermost first, is:
//
//		cache → pricing meter/budget → failover → per provider: health → retry → rate limit/quota → adapter
//
//	  - The cache is outermost so that a hit costs nothing and touches no quota.
//	  - The budget sits before failover so a request is reserved once, whichever
//	    route serves it.
//	  - Each failover route gets its own health check and its own retry budget.
//	  - The rate limiter sits inside retry so that every attempt takes a token.
//
// # Events
//
// Decorators report what they decide (a route tried or skipped, a breaker
// opened, a rate-limit wait, a retry and its wait, a budget reservation,
// a cache hit) as an Event to the handlers of the request's context:
// attach one with WithEventHandler, or to every request with the
// HandleEvents middleware, placed outermost. Package observe turns them
// into OpenTelemetry spans, metrics and slog lines; nothing here depends
// on it. With no handler, a decision costs one context lookup.
//
// # Previews
//
// A request that carries the Previews control asks for partial images
// (drafts) while the final image is generated; Stream turns a call into an
// iterator of them followed by the final response. Streaming is optional
// for adapters: one that cannot ignores the option. Decorators that repeat
// or reroute a call stop doing so once a draft has reached the caller
// (Track, ErrStreamInterrupted).
//
// # Seeing through decorators
//
// Failover and pricing need to know who serves a request (provider, model,
// capabilities) through any number of decorators. Adapters implement
// Describer (and RequestChecker when they can validate a request against a
// model catalog); decorators built with Wrap forward both and expose what
// they wrap through Unwrapper. Describe and CheckRequest walk the stack.
package provider
