// Package pricing meters what image generation costs and caps it: a
// metering middleware that prices every response from the dated model
// catalog (package catalog), totals by provider, model, tier and label,
// reports as JSON or CSV, and budgets that reserve an upper estimate
// before each call and settle it to the actual cost after.
//
// # The meter
//
// Each response is priced with catalog.Catalog.CostOf (a cost the relay
// reported wins; otherwise reported tokens × the tier's rates, exactly;
// else the published per-image price). The tier is catalog.TierBatch when
// the request carries it in its Options (provider.Options{catalog.TierBatch})
// or the generator implements TierReporter.
//
// NewMeter's Middleware sets Response.Cost, records billed failures
// (provider.BilledUsage), keeps totals by provider, model, tier and label,
// and exports a Report as JSON or CSV. Totals never go down: negative
// counts from a broken answer count as zero.
//
// # Budgets
//
// With a Budget the meter first validates the request
// (provider.Request.Validate and provider.CheckRequest on the stack it
// wraps: N=10000 or a size no route offers is provider.ErrInvalidRequest,
// and reserves nothing), then reserves an upper Estimate — refusing with
// provider.ErrBudgetExceeded before any network traffic — and settles it to
// the actual cost after, so daily and monthly caps, overall and per label,
// hold under any concurrency. The ledger is a Store: MemoryStore,
// FileStore, which survives restarts, or pricing/redisledger, shared by
// replicas through Redis.
//
// The estimate is an upper bound kept tight, so that a cap is not stranded
// by reservations: it prices what the request asks, from the catalog's
// formulas — the size requested or the model's default (never its
// largest), the quality (or what "auto" is billed at), N, each reference
// image by its own pixel size (Model.ReferenceTokens) and a thinking
// allowance (EstimateConfig). The gpt-image-2 family is priced with
// OpenAI's area-and-quality token formula (Model.ImageTokenFormula; a size
// tier is the WIDTHxHEIGHT the adapter sends, Model.ImagesSize), Gemini
// with its tokens per size tier. Over the catalog against the emulator the
// reservation is 1.00 to 1.41 times the bill. In front of failover the
// dearest route is reserved.
//
// A model the catalog does not know is reserved at the ceiling its route
// declares (Ceiling, provider.Description.MaxCostPerImage), else at the
// dearest image the catalog knows (Catalog.DearestImage, $0.71). A call
// that costs more than its reservation is settled in full — it counts
// against the cap — and fires an Alert of kind AlertOverrun.
//
// Near a cap, reservations of calls in flight can fill it while spend
// leaves room: by default such a request is refused at once (refusals are
// never delayed); with BudgetConfig.WaitForRoom it waits for them to
// settle, so concurrent callers do not strand the cap.
//
// # Previews
//
// Partial images are priced as billed: each draft a response reports
// (provider.Usage.Previews) costs the model's catalog fact
// PreviewOutputTokens at the image-output rate (100 tokens on OpenAI's
// GPT image models, counted on top of the final image's usage; Gemini's
// thought images cost nothing beyond their thinking tokens). A request
// with provider.Previews reserves Previews.Want() drafts per image on
// the dearest route; an unknown model's Ceiling is per image, drafts
// included. A cached replay has no drafts and costs nothing.
package pricing
