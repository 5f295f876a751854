// Package imagen generates images with Google's Imagen models through the
// :predict protocol, and migrates requests for the Imagen IDs Google has
// retired to their live Gemini replacements.
//
// # Two paths to :predict
//
// BackendGeminiAPI (the default) posts the Gemini API's shape itself:
//
//	POST {BaseURL}/v1beta/models/{model}:predict
//	x-goog-api-key: <key>            (Authorization: Bearer <key> with BearerAuth)
//	{"instances":[{"prompt":"..."}],
//	 "parameters":{"sampleCount":2,"aspectRatio":"16:9","sampleImageSize":"2K",
//	               "personGeneration":"allow_adult","safetySetting":"block_medium_and_above",
//	               "outputOptions":{"mimeType":"image/jpeg","compressionQuality":80},
//	               "includeRaiReason":true}}
//
// genai (v1.70 and later) refuses GenerateImages on the Gemini API backend
// before sending anything, and relays that still route Imagen IDs speak
// exactly this shape, so the request is written here. The key only ever
// travels in a header, never in the URL.
//
// BackendVertex calls genai's Models.GenerateImages on the Vertex AI /
// Gemini Enterprise backend (…/publishers/google/models/{model}:predict),
// authenticated by Config.Credentials, an express-mode APIKey, a bearer
// token (APIKey with BearerAuth), or Application Default Credentials looked
// up on the first call. genai's retries stay off; put the retry decorator
// around the generator instead.
//
// # Request mapping
//
//	Prompt          instances[0].prompt
//	N               parameters.sampleCount (1-4: the catalog's ImagesPerCall)
//	AspectRatio     parameters.aspectRatio ("1:1", "3:4", "4:3", "9:16", "16:9")
//	Size            parameters.sampleImageSize ("1K", "2K"; not on the fast model)
//	OutputFormat    parameters.outputOptions.mimeType ("png", "jpeg")
//	NegativePrompt  parameters.negativePrompt
//	Seed            parameters.seed, with addWatermark false (Imagen ignores a
//	                seed on watermarked images), and a warning saying so
//	Quality         ignored, with a warning
//	References, Mask  ErrInvalidRequest: this adapter only generates
//
// Known models are validated against the catalog before any call, so a bad
// request costs nothing; unknown IDs pass with Imagen's general limits.
//
// A request carries this adapter's settings as an Options value among its
// Request.Options: PersonGeneration, SafetySetting, EnhancePrompt,
// AddWatermark and CompressionQuality. Config.PersonGeneration and
// Config.SafetyLevel are their defaults; other adapters' options are
// ignored.
//
// # Answers
//
// Each prediction's bytesBase64Encoded becomes an Image whose MIMEType is
// checked against the bytes. Predictions the safety filters withheld carry
// raiFilteredReason: each becomes a warning, and Usage.Images counts only
// the images returned (Google does not bill filtered ones). When every
// prediction is filtered — or the answer is {}, Imagen's other way of
// saying so — Generate returns a *provider.Error of kind
// provider.KindContentBlocked with StatusCode 200 and Code "RAI_FILTERED".
// A prompt refused up front (HTTP 400 speaking of Responsible AI) is
// provider.ErrContentBlocked too. Other failures are classified from
// Google's error envelope like the gemini adapter's: per-minute 429s are
// ErrRateLimited with the RetryInfo hint, per-day quotas and 402s
// ErrQuotaExhausted, zero quotas ("limit: 0") ErrQuotaExhausted with Code
// CodeFreeTierNoQuota and no RetryAfter, 404s ErrModelRetired naming the catalog's live
// replacement (ErrModelNotFound for IDs the catalog does not know), 5xx and
// proxy HTML pages, resets, truncated or malformed bodies ErrUnavailable,
// and a missed deadline ErrTimeout.
//
// No answer can crash the process or take unbounded memory: a successful
// body is capped at Config.MaxResponseBytes (DefaultMaxResponseBytes, 128
// MiB, after decompression) and its base64 images are decoded as it
// streams in, on both paths; past the cap the call ends with
// ErrUnavailable, Code "RESPONSE_TOO_LARGE", and the connection is closed.
// An empty, truncated or non-object 200 is ErrUnavailable, Code
// "MALFORMED", as is a panic inside genai's decoding. Error bodies are read
// up to 1 MiB; back-off hints are clamped to a day, never dropped; text
// kept from an answer is redacted of the key (and its encoded forms and
// fragments) before it is cut on a character boundary. Configuration
// mistakes are *provider.ConfigError from New.
//
// # Retired models and migration
//
// Google shut every Imagen model down on 2026-08-17. By default a retired
// ID fails fast, without a network call, with provider.ErrModelRetired
// naming its live replacement from the catalog (imagen-4.0-generate-001
// and -fast- lead to gemini-nano-banana-2.1, -ultra- to
// gemini-3-pro-image). Two settings change that:
//
//   - Config.AllowRetired sends the retired ID anyway, for relays that
//     still route it, with the catalog's warning in Response.Warnings.
//   - Config.Migrate serves the request with the live replacement through
//     Config.Migrator (any provider.Generator, such as a gemini generator
//     in its own retry and rate limit), or a gemini generator built from
//     the same key, endpoint and HTTP client. N stays N: Gemini makes one call per
//     image. Size and AspectRatio carry over when the replacement accepts
//     them; OutputFormat, Quality and the Imagen-only options are dropped.
//     Response.Warnings starts with "imagen-4.0-generate-001 was shut down
//     on 2026-08-17; served by gemini-nano-banana-2.1" and lists what was
//     dropped; Response.Provider and Model name who really served it.
package imagen
