// Package catalog holds the dated model catalog: what imagegen knows about
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
// "images_per_call", "preview_output_tokens", "prices.standard", ...):
// {"url", "checked", "note"}.
// A source is a public page anyone can open, an http(s) URL with the
// date it was checked: the provider's own page where one states the fact,
// otherwise a gateway's documentation, an SDK's source or an issue thread,
// with a note saying "unverified" (the package's tests hold the embedded
// file to this). Prices are decimal dollar strings; token rates are per 1M
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
// Warnings for the response. Retired IDs stay listed for this, some with
// nothing but their lifecycle: the Imagen 3 IDs (imagen-3.0-generate-002
// and its siblings) lead through gemini-2.5-flash-image to
// gemini-nano-banana-2.1.
//
// Validate checks a provider.Request against a known model before any
// network call, and Capabilities feeds failover filtering.
//
// # Costs
//
// Catalog.CostOf prices a response in integer micro-dollars: a cost the
// relay reported (OpenRouter usage.cost) wins; otherwise reported tokens ×
// the tier's rates (thinking tokens at the text-output rate), summed
// exactly and rounded half up once; without token usage, the published
// per-image price × images. Unknown models cost 0 with a warning: the
// catalog never guesses. Catalog.Estimate is the upper bound a budget
// reserves before a call: it prices what the request asks from the
// catalog's formulas (the size requested or the model's default, never its
// largest; the quality; N; each reference image by its own pixel size; a
// thinking allowance). The gpt-image-2 family is priced with OpenAI's
// area-and-quality token formula (Model.ImageTokenFormula; a size tier is
// the WIDTHxHEIGHT the Images API is sent, Model.ImagesSize), Gemini with
// its tokens per size tier.
//
// Partial images (provider.Previews) are priced as billed: each one the
// provider reports (Usage.Previews) costs the model's PreviewOutputTokens
// at the image-output rate, 100 tokens on OpenAI's GPT image models,
// taken to be on top of the final image's usage (unverified: OpenAI does
// not say whether usage.output_tokens counts them). Gemini's thought
// images have no such fact: they are taken to cost nothing beyond the
// thinking tokens reported (unverified, see the model's source). Estimate
// reserves Previews.Want() drafts per image.
//
// The catalog imports only package provider, so adapters validate
// requests against it without importing the meter, budgets and ledgers of
// package pricing.
package catalog
