// Package providertest emulates the HTTP APIs of the image-generation
// providers on loopback, in the spirit of net/http/httptest and Pub/Sub's
// pstest: point the real SDK clients at it and script faults.
//
// It speaks:
//
//   - Gemini generateContent: POST …/models/{model}:generateContent under any
//     prefix (/v1beta/, /v1/, Vertex's /v1beta1/projects/{p}/locations/{l}/publishers/google/);
//   - Gemini Batch Mode: POST …/models/{model}:batchGenerateContent, GET
//     …/batches/{id}, GET …/batches, POST …/batches/{id}:cancel, DELETE …/batches/{id};
//   - Gemini Files API, as genai uses it: the resumable upload (POST
//     /upload/v1beta/files with X-Goog-Upload-Command: start, answering
//     X-Goog-Upload-URL, then "upload" / "upload, finalize" chunks), GET
//     …/files/{id}, GET …/files/{id}:download?alt=media (also under
//     /download/v1beta/), DELETE …/files/{id};
//   - Imagen: POST …/models/{model}:predict;
//   - OpenAI: POST /v1/images/generations, POST /v1/images/edits (multipart),
//     POST /v1/chat/completions (images in the shape chosen by ChatShape);
//   - OpenRouter: POST /api/v1/images;
//   - GET /files/{id}.png for images handed out as URLs.
//
// # Use with genai
//
//	srv := providertest.NewServer(providertest.Options{})
//	defer srv.Close()
//	client, err := genai.NewClient(ctx, &genai.ClientConfig{
//		APIKey:      "test-key",
//		Backend:     genai.BackendGeminiAPI,
//		HTTPClient:  srv.Client(),
//		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(), APIVersion: "v1beta"},
//	})
//
// The emulator serves any version prefix; naming one keeps the paths a test
// asserts from following genai's default (v1 since genai v1.78.0) or
// GOOGLE_GENAI_API_VERSION.
//
// For the Vertex backend (Imagen :predict) without any Google credentials,
// give genai an HTTPClient (so it skips Application Default Credentials)
// and the bearer token as a header:
//
//	genai.ClientConfig{
//		Backend: genai.BackendVertexAI, Project: "p", Location: "us-central1",
//		HTTPClient: srv.Client(),
//		HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL(),
//			Headers: http.Header{"Authorization": {"Bearer test-key"}}},
//	}
//
// # Use with go-openai
//
//	cfg := openai.DefaultConfig("test-key")
//	cfg.BaseURL = srv.URL() + "/v1"
//	cfg.HTTPClient = srv.Client()
//	client := openai.NewClientWithConfig(cfg)
//
// SDKs read provider environment variables (GEMINI_API_KEY, GOOGLE_API_KEY,
// GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GEMINI_BASE_URL, OPENAI_BASE_URL, ...):
// clear them in tests. Using srv.Client() lets Close release idle
// connections, which keeps leak checkers quiet.
//
// # Faults
//
// Inject scripts faults for the next calls to an endpoint; InjectRandom
// draws them with a probability from a generator seeded by Options.Seed.
// Each fault answers in the wire format of the endpoint it fires on:
//
//   - RateLimited, RateLimitedUntil: 429 with Google QuotaFailure + RetryInfo,
//     or OpenAI rate_limit_exceeded with Retry-After and x-ratelimit-* headers;
//   - DailyQuotaExhausted, QuotaZero: per-day / "limit: 0" 429s (OpenAI:
//     insufficient_quota);
//   - PaymentRequired (402), ModelRetired (404), Unavailable (503),
//     ProxyHTML502 (HTML body), Status (anything);
//   - SafetyBlock, PromptBlocked, NoImage, PartialFilter: the providers'
//     block shapes, mostly HTTP 200;
//   - Latency, Hang, Truncated, Malformed, Reset: transport trouble.
//
// Options.RequestsPerMinute and RequestsPerDay make the server enforce its
// own limits on the injected clock (Options.Clock), answering 429 in each
// endpoint's envelope. Every request is recorded (Requests) with secrets
// redacted; Stats counts them.
//
// Batch jobs progress on Options.Clock: PENDING, RUNNING from half of
// Options.BatchDuration, SUCCEEDED at BatchDuration. A request whose body
// contains "FAIL_ITEM" yields a per-item error (google.rpc.Status code 13);
// ExpireBatch forces BATCH_STATE_EXPIRED. A job created with
// batch.inputConfig.fileName reads the uploaded JSONL, one
// {"key": ..., "request": {GenerateContentRequest}} per line; once it
// succeeds, output.responsesFile names a generated file whose lines are
// {"key": ..., "response": {...}} or {"key": ..., "error": {"code": n,
// "message": ...}}, in input order. Server.File reads any file's bytes.
//
// # Differences from the real services
//
//   - Images are two blocks of colour derived from a hash of the prompt and
//     size, at the pixel size the request implies (Gemini: 1:1 is 512², 1024²,
//     2048², 4096²; other ratios keep the area and round to multiples of 16,
//     so 16:9 at 1K is 1360x768, not Google's 1344x768).
//   - output_format "webp" returns PNG bytes labelled output_format "png": the
//     standard library cannot encode WebP.
//   - Text token counts are approximations (len/4) and chat "cost" is a rough
//     estimate. Image tokens follow the providers' published rules: Gemini
//     output by size tier, input 560 per image on 3.x (768-px tiles of 258
//     on 2.5); OpenAI gpt-image-2 family output by OpenAI's area-and-quality
//     calculator ("auto" billed as high), edit sources in 32-px patches up
//     to 1,536; gpt-image-1 family by its size table. openai.go and
//     gemini.go cite the sources; pricing/catalog.json holds the same facts.
//   - Model IDs are not validated (any ID works) and per-model limits
//     (sizes, aspect ratios, reference counts) are not enforced, except the
//     strict Gemini imageSize spelling, OpenAI n and size rules, and the
//     Gemini 3 thought-signature rule for multi-turn requests.
//   - Batch jobs run every request when created (progress is only the
//     clock), and a responses file keeps the input's line order, which the
//     real service does not promise: match lines by key. Vertex
//     batchPredictionJobs (GCS / BigQuery input) are not emulated.
//   - Files API: no files.list, no registerFiles, no processing (files are
//     ACTIVE at once), no size or per-project storage limits, no
//     X-Goog-Upload-Command: query resumption; an unknown, expired (48 h) or
//     deleted file answers 403 PERMISSION_DENIED as the Gemini API does.
//     Uploaded files cannot be referenced from requests (fileData parts are
//     ignored).
//   - No streaming (streamGenerateContent, stream: true), no Interactions API,
//     no countTokens, no models listing.
//   - Rate limits count requests only (no token or images-per-minute limits)
//     and are per server, not per model.
//   - Hosted /files URLs never expire (the server keeps the last 256).
package providertest
