// Package pricing holds the dated model catalog: what imagegen knows about
// each image model — provider and wire protocol, lifecycle dates and
// replacement, sizes, aspect ratios, reference-image limit, images per call,
// qualities, output formats and prices per tier — with the source and check
// date of every fact.
//
// # Data, not code
//
// The facts live in catalog.json, embedded in the package and returned by
// Default. Its "as_of" says when they were checked and "version" names the
// file. Providers launch and retire models monthly, so a program can load a
// newer file at run time with LoadFile or Load; the file is validated
// (dates, unique IDs and aliases, known replacements without cycles,
// parseable prices, a source for every non-empty fact group) and rejected
// with every problem listed. A Catalog is immutable: Lookup and Models hand
// out deep copies, and Default returns a fresh header over shared,
// read-only data.
//
// # Adding a model
//
// Add an entry to catalog.json (or to your own copy) with its id, provider,
// protocol ("gemini", "imagen" or "openai"), aliases, lifecycle, sizes,
// limits and prices, plus a "sources" entry for each fact group it fills
// ("lifecycle", "sizes", "aspect_ratios", "max_references",
// "images_per_call", "prices.standard", ...): {"url", "checked", "note"}.
// A fact that could not be confirmed keeps its source with a note saying
// "unverified". Prices are decimal dollar strings; token rates are per 1M
// tokens. Models not in the catalog are not an error anywhere: a new model
// works the day it ships, just unvalidated.
//
// # Resolve and CheckLive
//
// Status tells whether a model is active, deprecated or retired at an
// instant; dates take effect at 00:00 UTC. Resolve follows replacements
// from a model while it is retired, or deprecated with a replacement, to the
// first active model: at 2026-11-21, imagen-4.0-fast-generate-001 →
// gemini-3.1-flash-image → gemini-nano-banana-2.1. CheckLive turns a
// retired ID (or a retired alias such as gemini-3-pro-image-preview) into a
// provider.ErrModelRetired error naming that live replacement, so a call
// fails before any network traffic; deprecated models still pass, with
// Warnings for the response.
//
// Validate checks a provider.Request against a known model before any
// network call, and Capabilities feeds failover filtering.
//
// # Costs, the meter and budgets
//
// Catalog.CostOf prices a response in integer micro-dollars: a cost the
// relay reported (OpenRouter usage.cost) wins; otherwise reported tokens ×
// the tier's rates (thinking tokens at the text-output rate), summed
// exactly and rounded half up once; without token usage, the published
// per-image price × images. Unknown models cost 0 with a warning: the
// catalog never guesses. The tier is "batch" when Request.Options
// ["pricing_tier"] (OptionTier) says so or the generator implements
// TierReporter.
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
package pricing
