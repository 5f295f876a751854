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
//   - Gemini Files API, as genai and js-genai use it: the resumable upload
//     (POST /upload/{version}/files with X-Goog-Upload-Command: start,
//     answering X-Goog-Upload-URL, then "upload" / "upload, finalize"
//     chunks), GET …/files/{id}, GET …/files (files.list, pageSize and
//     pageToken), GET …/files/{id}:download?alt=media (also under
//     /download/v1beta/; generated files only), DELETE …/files/{id};
//   - Imagen: POST …/models/{model}:predict;
//   - OpenAI: POST /v1/images/generations, POST /v1/images/edits (multipart),
//     POST /v1/chat/completions (images in the shape chosen by ChatShape);
//   - OpenRouter: POST /api/v1/images;
//   - GET /files/{id}.png for images handed out as URLs;
//   - the task APIs, each under its own prefix (KieURL, ReplicateURL,
//     APIMartURL; see tasks.go): Kie.ai's createTask, recordInfo, file
//     uploads and download-url, with refusals in HTTP 200 bodies;
//     Replicate's predictions (Prefer: wait, Cancel-After, cancel, list),
//     files and webhook secret; APIMart's generations (Idempotency-Key)
//     and tasks. Tasks walk their states on the server's clock
//     (Options.Tasks), end as ScriptTasks or content faults say, hand out
//     results that expire, and call back signed (InjectWebhook spoils
//     deliveries; LoseAnswers loses create answers after the task exists).
//
// An unknown path answers in the envelope of the family it looks like:
// Google's NOT_FOUND for /v1beta, /v1alpha, /upload/, /download/, a
// ":method" or a Vertex path, and under /v1/ (which OpenAI shares) when the
// client is Google's (x-goog-api-key, x-goog-api-client or ?key=);
// OpenAI's invalid_request_error otherwise. Every OpenAI-style answer,
// errors included, carries x-request-id ("req_" and 32 hex digits), which
// Request.RequestID records.
//
// # Streams
//
// A stream request gets a real stream; authentication, faults and rate
// limits still answer first, with an ordinary error body, as they do
// before a real stream starts.
//
//   - Images API ("stream": true on /v1/images/generations, stream=true on
//     the multipart /v1/images/edits; OpenRouter's /api/v1/images alike):
//     text/event-stream of named events, "event:" equal to the JSON "type":
//     partial_images (0 to 3, absent is 0) events image_generation.partial_image
//     (image_edit.partial_image) with b64_json, created_at, size, quality,
//     background, output_format and partial_image_index, each image distinct
//     from the others and from the final one; then one
//     image_generation.completed (image_edit.completed) per image, the same
//     fields without the index and with usage {input_tokens,
//     input_tokens_details{image_tokens, text_tokens}, output_tokens,
//     total_tokens}. Every completed event carries the request's usage,
//     equal to the JSON answer's (the 100 output tokens OpenAI bills per
//     partial image are not added: whether OpenAI's own usage includes
//     them is unverified). No "data: [DONE]". DALL·E models refuse
//     "stream" (400 unsupported_value, OpenAI's answer for a model without
//     streaming); gif and svg are refused as any output_format but png,
//     jpeg and webp; partial_images outside 0..3 gets OpenAI's
//     integer_below_min_value / integer_above_max_value. SafetyBlock and
//     PromptBlocked answer their 400 before the stream; NoImage streams no
//     event at all.
//   - Chat completions: chat.completion.chunk objects (the role, the text,
//     each image in its own delta: delta.images in the OpenRouter shape,
//     markdown in delta.content otherwise, a Gemini 3 draft before the
//     final image), a last chunk with finish_reason and usage, then
//     "data: [DONE]".
//   - Gemini streamGenerateContent?alt=sse: one "data: {GenerateContentResponse}"
//     line per event, events separated by "\r\n\r\n", no event: or
//     comment lines (genai Go rejects them). On Gemini 3 image models, and
//     only when generationConfig.thinkingConfig.includeThoughts is true (the
//     real models may send drafts without it: unverified, so adapters must
//     ask), a thought text, then two draft images ("thought": true with
//     inlineData, 256² and 512², distinct from the final); then the text
//     part if TEXT was asked for; the final image part (thoughtSignature,
//     never "thought") comes last with finishReason STOP and the whole
//     usageMetadata. The first chunk's usageMetadata counts the prompt
//     only, so a client must take the last one, not add them up. Without
//     alt=sse the same chunks form a JSON array, as Google answers. A
//     content fault (SafetyBlock, PromptBlocked, NoImage) streams
//     generateContent's answer as one chunk.
//
// Options.StreamInterval pauses (in real time) before each event, so a
// client can measure the time to the first draft against the time to the
// final image; Options.Latency still delays the headers. Options.StreamMode
// emulates relays: StreamFinalOnly drops the drafts (partial images,
// Gemini's thought parts), StreamIgnored answers the JSON body (the
// client must read the Content-Type: openai-node would read it as an
// empty stream), StreamRefused answers 400 unsupported_value (Gemini: 404
// "not supported for streamGenerateContent"). Stats.Streams counts the
// answers sent as streams; streamed calls are recorded and counted per
// endpoint like any other.
//
// The stream faults (StreamReset, StreamHang, StreamMalformed,
// StreamError, StreamIncomplete) fire after the first draft, or, when a
// stream has none, just before its first final image. See their
// constructors.
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
//   - Latency, Hang, Truncated, Malformed, Reset: transport trouble;
//   - StreamReset, StreamHang, StreamMalformed, StreamError,
//     StreamIncomplete: trouble in the middle of a stream (see Streams);
//     on a call that does not stream they are used up and the call is
//     served normally.
//
// Options.RequestsPerMinute and RequestsPerDay make the server enforce its
// own limits on the injected clock (Options.Clock), answering 429 in each
// endpoint's envelope. Every request is recorded (Requests) with secrets
// redacted; Stats counts them. SetLatency, SetLimits, SetChatShape and
// AdvanceClock change a running server; Reset returns it to new.
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
// # Other languages: the standalone server and the control endpoint
//
// `imagegen emulator --addr 127.0.0.1:8080` (cmd/imagegen) serves the same
// emulator as a process, for tests in Python, JavaScript or anything else;
// flags or a JSON config file set the key, limits, latency, chat shape and
// scripted faults. With Options.Control (on by default in the command for
// a loopback address; beyond loopback only with a control token) a JSON
// control endpoint under ControlPrefix ("/_emulator/", which no provider
// path can be) injects faults (FaultRule, Fault's JSON form), clears them,
// lists recorded requests, reads statistics, moves the clock, changes
// latency, stream interval and mode, limits and chat shape, expires batch
// jobs and resets the server;
// ControlPrefix's doc lists the routes. Options.ControlToken makes every
// control call need "Authorization: Bearer <token>".
//
// # Compatibility with the official SDKs
//
// compat/js runs the official @google/genai 3.3.0 and openai 7.60.0 npm
// SDKs against `imagegen emulator` in CI (.ci/compat-js): 79 checks of
// generate, edit, sessions with thought signatures, Files, batches, every
// fault through the control endpoint, the error classes each SDK raises,
// x-request-id, streams and stream faults; all 79 pass (41 genai, 38
// openai). TestCompatGenai and TestCompatOpenAI make the same checks with
// genai Go and go-openai: 41 of 41 and 31 of 38, the other 7 being
// requests go-openai v1.43 cannot make (several edit images,
// message.images, stream on images, retries). compat/README.md has the table, check by
// check, and what each SDK raises for each fault.
//
// # Differences from the real services
//
// Checked 2026-12-04 against the providers' documentation, the official
// SDKs' sources (genai v1.79.1, @google/genai 3.3.0, openai-node 7.60.0)
// and captured answers quoted in public issues; "unverified" marks what no
// source showed.
//
// Content:
//
//   - Images are two blocks of colour derived from a hash of the prompt and
//     size, at the pixel size the request implies (Gemini: 1:1 is 512², 1024²,
//     2048², 4096²; other ratios keep the area and round to multiples of 16,
//     so 16:9 at 1K is 1360x768, not Google's 1344x768). Gemini 3
//     generateContent answers always hold one text thought and one 256²
//     draft image before the final image; the real models send up to two
//     drafts, and (unverified) perhaps none without
//     thinkingConfig.includeThoughts. Streams send two drafts, and only
//     with includeThoughts. The real final image may be byte-identical to
//     the last draft ("the last image within Thinking is also the final
//     rendered image"); the emulator's never is, so a client can tell them
//     apart.
//   - Partial images are the final image's size in other colours, not a
//     blurred version of it; LargeImageBytes makes only the final images
//     large. Every stream sends all the partials asked for (OpenAI may
//     send fewer).
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
//
// Paths and methods:
//
//   - Streams: the Images API's mid-stream error event and "data: [DONE]"
//     are unverified (the emulator sends "event: error" with
//     {"type":"error","error":{...}}, which openai-node, Bifrost and new-api
//     all read as an error, and no [DONE]); n > 1 sends the partials once,
//     then one completed event per image (unverified); OpenRouter's
//     /api/v1/images stream format is unverified and copies OpenAI's;
//     chat streams send each image whole in one delta.
//   - No Interactions API, no countTokens,
//     no models listing (GET …/models is a NOT_FOUND), no OpenAI Files,
//     Batch or Responses APIs, no /v1/images/variations.
//   - Vertex AI: generateContent and :predict only; batchPredictionJobs
//     (GCS / BigQuery input) are not emulated.
//   - Files API: no registerFiles, no processing (files are ACTIVE at once),
//     no size or per-project storage limits, no X-Goog-Upload-Command:
//     query resumption. Uploaded files cannot be referenced from requests
//     (fileData parts are ignored). An unknown, expired (48 h) or deleted
//     file answers 403 PERMISSION_DENIED as the Gemini API does.
//   - Only generated files (batch responses) are downloadable: an uploaded
//     file has no downloadUri (genai's File.DownloadURI: "only set for
//     downloadable (generated) files") and its :download answers 400
//     INVALID_ARGUMENT. The real status and message are unverified. genai
//     Go refuses client-side when a File has no DownloadURI (and, handed a
//     name, returns the error body as the file's bytes: v1.79.1's
//     Files.Download does not check the status); js-genai sends the
//     request and raises ApiError 400.
//   - The upload session URL (X-Goog-Upload-URL) keeps the version the
//     upload started with (/upload/v1/files → /upload/v1/files?upload_id=…).
//     Google documents only /upload/v1beta/files and every captured session
//     URL came from a v1beta start: what a v1 start gets is unverified. Both
//     SDKs follow the returned path verbatim, so either works against the
//     emulator. File "uri" fields always say /v1beta/.
//
// Behaviour:
//
//   - Batch jobs run every request when created (progress is only the
//     clock), and a responses file keeps the input's line order, which the
//     real service does not promise: match lines by key.
//   - Rate limits count requests only (no token or images-per-minute limits)
//     and are per server, not per model.
//   - Vertex AI 429s carry no details (no QuotaFailure, no RetryInfo), as
//     Vertex's captured answers show; :predict names the
//     online_prediction_requests_per_base_model quota. A raw capture of an
//     Imagen :predict 429 is unverified. A RateLimited fault's hint is
//     therefore not conveyed on Vertex paths.
//   - x-request-id is random; the real one is too, but the emulator sends no
//     openai-processing-ms, openai-version or x-ratelimit-* headers except
//     on its 429s.
//   - Hosted /files URLs never expire (the server keeps the last 256).
package providertest
