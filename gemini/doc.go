// Package gemini generates images with Google's Gemini image models ("Nano
// Banana") through generateContent, using google.golang.org/genai for the
// wire, on the Gemini API, on Vertex AI, or on relays that speak the Gemini
// format (Config.BearerAuth).
//
//	g, err := gemini.New(ctx, gemini.Config{APIKey: os.Getenv("GEMINI_API_KEY")})
//	resp, err := g.Generate(ctx, &provider.Request{Prompt: "a lighthouse at dusk", Size: "2K", AspectRatio: "16:9"})
//
// # What the adapter takes care of
//
//   - Known models are checked against the catalog (package catalog) before any call:
//     sizes, aspect ratios, reference counts, thinking levels, the 20 MB
//     inline limit. A retired model fails fast with provider.ErrModelRetired
//     naming its live replacement; a deprecated one works with a Warning.
//     Unknown model IDs pass through untouched, so a model released today
//     works today.
//   - Size tiers are sent in the wire's strict spelling ("512", "1K", "2K",
//     "4K"); "1k", "512px" and "0.5K" are accepted from callers. Models with
//     a single size (2.5 Flash) get no imageSize at all.
//   - Every current Gemini image model returns one image per call, so N
//     images are N concurrent calls, at most Config.MaxConcurrency at once.
//     Images that succeeded are returned even when a sibling call failed;
//     the failures are listed in Response.Warnings.
//   - Only final images are returned: parts marked thought (interim drafts)
//     are dropped, or passed to provider.Previews.On when the request asks
//     for previews (see Previews), and each image's bytes are checked
//     against its mimeType.
//     Images that relays flatten into text as markdown data URIs are found.
//   - HTTP 200 answers without an image are typed errors, never empty
//     successes: promptFeedback.blockReason and the SAFETY / PROHIBITED /
//     RECITATION finish reasons are provider.ErrContentBlocked, IMAGE_OTHER,
//     NO_IMAGE and text-only answers provider.ErrNoImage. The usage such a
//     call billed (thinking tokens) is kept in the error's Usage.
//   - HTTP errors keep their status and Google's status code. A 429 is
//     ErrRateLimited with RetryAfter from google.rpc.RetryInfo (or the
//     Retry-After header, which genai hides and our transport captures),
//     unless its QuotaFailure names a per-day quota, which no wait of
//     seconds fixes: ErrQuotaExhausted, as is a 402. A zero quota ("limit:
//     0" in the message, or quotaValue "0" in the QuotaFailure: the free
//     tier does not include the model) is ErrQuotaExhausted with Code
//     CodeFreeTierNoQuota and no RetryAfter, whatever RetryInfo says: it is
//     never retried, and ratelimit does not pause until midnight for it.
//     A 404 of a model the catalog knows is ErrModelRetired.
//   - genai is used safely: its retries stay off (retry is a decorator),
//     AutomaticContinuation is off (a continuation is a second billed call),
//     every call gets a fresh config (genai mutates it), and the API key is
//     redacted from every message.
//
// # Options
//
// A request carries this adapter's settings as an Options value among its
// Request.Options (provider.Options{gemini.Options{ThinkingLevel: "high"}});
// other adapters' options are ignored, so one request can be routed
// anywhere. The compiler checks the fields; a value outside its
// vocabulary (ThinkingLevel "5") is provider.ErrInvalidRequest naming the
// field. Request.Quality is not a Gemini parameter and is ignored.
//
// # Inputs and output format
//
// Reference images are checked before any call: their bytes must be PNG,
// JPEG, WebP, HEIC or HEIF (what Gemini takes; not GIF), any MIMEType given
// must name that type, and the request with its images in base64 must fit
// the model's inline limit (the catalog's max_request_bytes, 20 MiB).
// Gemini chooses between PNG and JPEG itself: OutputFormat "png" or "jpeg"
// is met by converting the image with the standard library when the model
// returned the other, with a warning saying so; any other format is
// provider.ErrInvalidRequest before the call.
//
// # Hostile answers
//
// No answer can crash the process or take unbounded memory. A successful
// body is capped at Config.MaxResponseBytes (DefaultMaxResponseBytes, 256
// MiB, counted after decompression, so a gzip bomb stops at the cap) and its
// base64 images are decoded as it streams in; the JSON around them (text
// parts, thought signatures) is capped at 32 MiB. Past a cap the call ends
// with provider.ErrUnavailable, Code "RESPONSE_TOO_LARGE", and the
// connection is closed, not drained. An empty, truncated, null or
// non-object 200 is ErrUnavailable, Code "MALFORMED", as is any panic
// inside genai's decoding. Error bodies are read up to 1 MiB.
//
// Gemini's own words are kept: finishMessage (which genai drops on the
// Gemini API backend) and promptFeedback.blockReasonMessage are read from
// the body as it passes the transport, on both backends and for batch
// results; MALFORMED_RESPONSE (a retryable provider.ErrUnavailable) and
// finish reasons this package does not know are kept verbatim in Code.
// Usage counts that are negative, fractional or beyond int32 are dropped
// with a warning instead of making genai discard a good image. Text kept
// from an answer is redacted of the key, its percent- and JSON-encoded
// forms and any 8-character run of it, then cut on a character boundary.
// Back-off hints from every source are clamped to a day, never dropped.
// Configuration mistakes are *provider.ConfigError from New; Config and
// Generator print without the key under every fmt verb.
//
// # Previews
//
// A request with provider.Previews (or a call through provider.Stream) is
// sent to streamGenerateContent?alt=sse instead of generateContent. Gemini
// 3 image models think, and draw up to two interim images while they do;
// the adapter asks for its thoughts (thinkingConfig.includeThoughts, which
// models that do not think never get), and passes each draft image (a part
// marked thought with inlineData) to Previews.On, in order, on the
// goroutine that called Generate, as soon as its event has arrived. The
// drafts are as the model sent them: PNG or JPEG, not converted to
// OutputFormat, their bytes sniffed. Previews.Count does not change how
// many a model draws. 2.5 Flash Image does not think and sends no drafts:
// On is not called, and the call returns its final image as usual.
//
// The final response is the stream's chunks merged, and judged exactly as a
// generateContent answer: the non-thought image parts, text deltas joined,
// the last finishReason, finishMessage and promptFeedback, and the last
// usageMetadata (each chunk's is the running total). A thought image's
// tokens are in thoughtsTokenCount (Usage.ThoughtTokens); Usage.Previews
// stays 0. With N images, N streams run at once and their drafts reach On
// one at a time, Index counting across all of them.
//
// Failures are typed as for generateContent: an error envelope sent in the
// stream (`data: {"error":{...}}` after HTTP 200) is classified by its own
// code (a 429 RESOURCE_EXHAUSTED is provider.ErrRateLimited with
// RetryInfo's delay, a 503 provider.ErrUnavailable); a stream that ends
// before a finishReason, or is cut inside an event, is ErrUnavailable with
// Code "MALFORMED"; a reset connection is ErrUnavailable. Drafts already
// delivered stay delivered; the retry and failover decorators see them
// (provider.Track) and do not start over. AutomaticContinuation stays off,
// as genai would otherwise re-request (and be billed for) a stream that
// stopped with a continuation token.
//
// Each event's images are decoded as they arrive, as for generateContent
// (the stream's total counts against MaxResponseBytes, its JSON against
// the 32 MiB cap), and genai parses only the small JSON left. An SSE
// answer has no length, so the first image of a stream is decoded into
// chunks and copied once into its own slice (about 2x its size at the
// peak, as a chunked generateContent answer); an image after a draft is
// decoded into one slice sized by that draft (about 1x), since the final
// image is the last draft rendered, or, when it proves larger, goes on in
// chunks and costs about 2x again.
// The stream parser is more lenient than genai's: keep-alive comments,
// event and id fields, multi-line data and LF or CRLF framing are
// accepted, and a relay that answers one plain JSON object is read as a
// one-event stream. Vertex AI streams the same way. Sessions and Batch
// Mode ignore Previews.
//
// # Sessions
//
// Generator.NewSession starts a multi-turn editing conversation. Each turn
// re-sends the earlier exchanges with their thought signatures (Gemini 3
// models answer 400 without them), keeping only the last KeepTurns so a long
// session does not re-send every image ever made. Session.State (or
// json.Marshal of the session) saves it; Generator.ResumeSession restores it
// in another process.
//
// # Batch Mode
//
// Generator.SubmitBatch sends many requests as one asynchronous job at half
// the standard price; each BatchItem makes one image and carries the
// caller's key. Every item is validated before anything is sent. Jobs whose
// requests come to less than MaxRequestBytes (20 MB) are sent inline; larger
// ones (or any, with BatchOptions.UseFile) are uploaded through the Files
// API as a JSONL file of {"key": ..., "request": ...} lines, each request
// the same JSON the inline path would send, and their results come back as
// a responses file that BatchResults downloads. Creating a job is not
// idempotent and is never retried.
//
// WaitBatch polls with back-off (WaitOptions.After takes a fake clock in
// tests); a job's Name is all another process needs to resume it
// (Generator.Batch, WaitBatch). The wire's BATCH_STATE_* and genai's
// JOB_STATE_* both map to BatchState. A job that failed, or expired after
// 48 hours (BatchExpiry), is returned with a typed error (provider.ErrTimeout
// for expiry). BatchResults (BatchResultsContext) gives each result the
// key it was submitted with (a responses file promises no order: match by
// key); each failed item has its own typed error, from its
// google.rpc.Status code or, for a line of the responses file that cannot
// be read, provider.ErrUnavailable. File jobs need the Gemini API: Vertex AI
// batch input lives in Cloud Storage or BigQuery, which this package does
// not handle.
package gemini
