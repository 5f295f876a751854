// Package openaicompat generates images through OpenAI's Images API and the
// OpenAI-compatible aggregators and relays that reach the same models (and
// Gemini's) in other shapes.
//
//	g, err := openaicompat.New(openaicompat.OpenAI(os.Getenv("OPENAI_API_KEY")))
//	resp, err := g.Generate(ctx, &provider.Request{Prompt: "a lighthouse at dusk", Size: "1536x1024", Quality: "high"})
//
// # Modes
//
// Config.Mode chooses the wire shape:
//
//   - ModeImages (default): POST {base}/images/generations, and
//     {base}/images/edits as multipart when the request has References (up
//     to 16 image[] parts and an optional mask). The model is always sent.
//     All N images come from one call.
//   - ModeChatImages: OpenRouter's chat completions with modalities
//     ["image","text"] and image_config {aspect_ratio, image_size} (half-K is
//     spelled "0.5K"); images come back in message.images as data URIs.
//   - ModeChatMarkdown: new-api / one-api relays (laozhang.ai and many
//     others) that flatten images into message.content as markdown,
//     ![image](data:...) or hosted https links, drafts first and the final
//     image last.
//   - ModeChatContentArray: relays whose message.content is an array of
//     text and image_url parts.
//   - ModeOpenRouterImages: OpenRouter's POST {base}/images, which answers
//     b64_json with usage.cost.
//
// Every chat mode reads every chat shape (message.images, markdown,
// content arrays), so a relay that changes its answers keeps working; the
// mode decides what is sent. In the chat modes one call returns one image:
// N images are N calls, at most Config.MaxConcurrency at once, and images
// that succeeded are returned even when a sibling call failed (listed in
// Response.Warnings). Of several images in a relay's text only the last is
// kept, since new-api relays put Gemini's interim drafts first; set
// Config.KeepDrafts (or Options.KeepDrafts) to keep all.
//
// # Presets
//
//	| preset        | base URL                      | mode                 | model naming                  |
//	| OpenAI(key)   | https://api.openai.com/v1     | ModeImages           | gpt-image-2                   |
//	| OpenRouter(k) | https://openrouter.ai/api/v1  | ModeChatImages       | google/gemini-3-pro-image     |
//	| LaoZhang(k)   | https://api.laozhang.ai/v1    | ModeChatMarkdown     | gemini-3-pro-image (upstream) |
//	| AIMLAPI(k)    | https://api.aimlapi.com/v1    | ModeImages           | openai/gpt-image-2            |
//
// A preset is a Config: change any field before calling New. Model names
// are catalog IDs; Config.ModelName (VendorPrefix for aggregators) turns
// them into the service's names, and vendor-prefixed names in
// Request.Model find their catalog entry by the part after the "/". Only
// when the base URL is OpenAI's own does an empty APIKey fall back to
// OPENAI_API_KEY: a key from the environment is never sent to a relay.
//
// # Requests
//
// Known models are checked against the catalog (package catalog) before any call: a
// retired model fails with provider.ErrModelRetired naming its live
// replacement; sizes, qualities (xhigh and max on 2.5+), N (1 on dall-e-3),
// output formats (gif and svg on 2.6 only) and reference counts are
// checked, and free WIDTHxHEIGHT sizes against the 2.x rule (multiples of
// 16, ratio within 3:1, longest edge 3840, pixel bounds). On the Images API
// a size tier with an AspectRatio becomes a size: a listed size of that
// ratio ("1K" 3:2 is 1536x1024) or a free size with the tier's pixel budget
// ("2K" 16:9 is 2736x1536). Unknown model IDs pass through unchecked.
// Request.NegativePrompt is appended to the prompt as "Avoid: ..."; Seed is
// sent only in the chat modes.
//
// Reference images and the mask are checked before any call: their bytes
// must be an image whose type matches any MIMEType given; the Images API's
// edits take PNG, JPEG and WebP (each under 50 MB, the mask a PNG under 4
// MB), chat completions PNG, JPEG, WebP and GIF; the catalog's input
// limits apply to known models (a Gemini model through OpenRouter or a
// new-api relay keeps Gemini's 20 MB request limit). Chat completions
// cannot choose an output format: OutputFormat "png" or "jpeg" is met by
// converting what came back (with a warning), any other is refused before
// the call. A relay that ignores output_format on the Images API is
// converted the same way.
//
// A request carries this adapter's settings as an Options value among its
// Request.Options: OutputCompression (0-100; jpeg and webp only; 0 is
// sent, unlike go-openai), Background, Moderation, ResponseFormat (dall-e
// only), Style, InputFidelity, User, SafetyIdentifier and KeepDrafts.
// Other adapters' options are ignored, so one request can be routed
// anywhere; a value outside its vocabulary is provider.ErrInvalidRequest
// naming the field.
//
// # Responses
//
// b64_json images are decoded and their bytes checked (the bytes win over
// the label). Usage maps input_tokens, input_tokens_details.image_tokens,
// output_tokens and output_tokens_details.image_tokens (go-openai drops the
// latter, which is one reason the wire is written here); when a GPT image
// model reports no split, all output tokens are image tokens. Chat usage
// maps prompt/completion tokens and their details. The revised prompt is
// kept. An HTTP 200 without an image is provider.ErrNoImage (or
// ErrContentBlocked for finish_reason content_filter and Gemini's safety
// finish reasons), with the billed usage in the error.
//
// OpenRouter's usage.cost is what it billed, in dollars: it is read exactly
// from its decimal text and set as Response.Cost (summed over the calls of
// one request). The pricing meter keeps a Response.Cost that the relay has
// already set instead of computing one from usage.
//
// # Previews (partial images)
//
// A request with a provider.Previews option (or a call through
// provider.Stream) on the Images API (ModeImages), generations or edits,
// for a GPT image model, sends stream: true and partial_images:
// Previews.Want() (stream=true, partial_images=N in the edits form) and
// reads the text/event-stream answer: each image_generation.partial_image
// (image_edit.partial_image) event is handed to On as a provider.Preview,
// MIME type sniffed from the bytes, in order, on the calling goroutine,
// before Generate returns; each *.completed event is the next final image,
// and the Response is what the same call without previews returns, with
// Usage.Previews counting the partial images received (OpenAI bills each
// as 100 more image output tokens). The events' base64 is decoded as it
// streams in, as for JSON answers. A partial that is no image is skipped
// with a warning; partials beyond the count asked for are billed but not
// shown. The call ends at the last completed event (data: [DONE] is
// accepted, not needed).
//
// Mid-stream failures are typed errors carrying the partial images already
// billed (provider.Error.Usage): an error event (event: error, or any
// event with an "error" member) is classified by its code like an error
// answer (rate_limit_exceeded → ErrRateLimited, moderation_blocked →
// ErrContentBlocked, server_error → ErrUnavailable, ...) with StatusCode
// 200; malformed event JSON is ErrUnavailable, Code "MALFORMED"; a stream
// that ends before its completed event is ErrUnavailable, Code
// CodeStreamTruncated; a reset or a hang is ErrUnavailable or the
// caller's deadline. The retry and failover decorators do not repeat a
// call once a preview has reached the caller.
//
// Previews degrade to the final image alone, without an error, where they
// cannot be had: chat modes and OpenRouter's /images (no stream is asked
// for), the dall-e models, models the catalog does not list as OpenAI GPT
// image models (a relay's own names), gif and svg output (which the API
// cannot stream); a relay that answers the stream request with JSON (any
// Content-Type but text/event-stream) is read as the usual answer; a 400
// refusing "stream" is followed by the same call without it.
//
// # Image links and the fetch policy
//
// Images returned as links (dall-e URLs, which expire after an hour; hosted
// links in relay text) are downloaded at once under Config.Fetch: https and
// data: only unless AllowHTTP; no loopback, private, link-local, CGNAT or
// other non-public address unless AllowPrivate, checked on the address
// actually dialled so that DNS answers and every redirect hop are covered;
// a size cap (50 MiB), a timeout (30 s), and the bytes must be an image (a
// Content-Type naming something else is refused). NoDownload leaves links
// in Image.URL instead. A refused link is provider.ErrInvalidRequest (code
// "url_blocked": retrying cannot help, the policy decides); a failed
// download is ErrUnavailable (ErrTimeout when slow). Other images of the
// same answer are kept, with a warning. Downloads do not use
// Config.HTTPClient and ignore proxy environment variables, so that the
// address check sees the real host.
//
// # Errors
//
// Error answers are decoded as go-openai does (the {"error":{...}} envelope
// into *openai.APIError, whose code may be a string or a number; other
// bodies into *openai.RequestError, both reachable with errors.As) and
// classified:
//
//   - 400 moderation_blocked, content_policy_violation → ErrContentBlocked
//   - other 400 and 422 → ErrInvalidRequest
//   - 401, 403, invalid_api_key → ErrAuth
//   - 402, insufficient_quota (a 429 no wait fixes) → ErrQuotaExhausted
//   - 404 model_not_found → ErrModelRetired (naming the replacement) when
//     the catalog knows the model, ErrModelNotFound otherwise
//   - other 429 → ErrRateLimited with RetryAfter from Retry-After (seconds
//     or an HTTP date), retry-after-ms or x-ratelimit-reset-*, else from
//     "try again in 12s" in the message
//   - 5xx and HTML bodies (stripped to their title) → ErrUnavailable
//   - deadline → ErrTimeout; reset, truncated or malformed answers →
//     ErrUnavailable
//
// Headers are read through the capturing transport. The API key is
// redacted from every message, and so is the masked key OpenAI echoes in
// "Incorrect API key provided: sk-...".
//
// # Hostile answers
//
// No answer can crash the process or take unbounded memory. A successful
// body is capped at Config.MaxResponseBytes (DefaultMaxResponseBytes, 512
// MiB, counted after decompression, so a gzip bomb stops at the cap) and
// its base64 images are decoded as it streams in; the JSON around them is
// capped at 32 MiB. Past a cap the call ends with ErrUnavailable, Code
// "RESPONSE_TOO_LARGE", and the connection is closed, not drained. An
// empty, truncated or non-object 200 is ErrUnavailable, Code "MALFORMED".
// Error bodies are read up to 1 MiB. Usage counts that are negative or
// beyond int32 are dropped with a warning, never a lost image. Text kept
// from an answer (Response.Text, RevisedPrompt, messages, warnings) is
// redacted of the key, its encoded forms and any 8-character run of it,
// then cut on a character boundary (64 KiB for kept text, 500 bytes for a
// message). Back-off hints are clamped to a day, never dropped. A
// configuration mistake is a *provider.ConfigError from New, and Config
// and Generator print without the key under every fmt verb.
package openaicompat
