// Package taskapi generates images through task APIs: services that answer
// a generation with a task to poll, or call back later. It speaks three:
//
//   - Kie.ai (Kie): POST /api/v1/jobs/createTask, then GET
//     /api/v1/jobs/recordInfo; refusals come as HTTP 200 with the error in
//     the body's code (401, 402, 422, 429, 455, 5xx), and references are
//     uploaded to its file API first. No cancel.
//   - Replicate (Replicate): predictions, in sync mode (Prefer: wait) with
//     polling when the wait runs out; references inline as data: URIs or
//     through its files API; predictions are cancelled when the caller
//     gives up.
//   - APIMart (APIMart): POST /v1/images/generations with an
//     Idempotency-Key, then GET /v1/tasks/{id}, which reports the cost.
//
// Its Generator is like the other adapters' (provider.Generator,
// Describe, CheckRequest), so retry, rate limits, the cache, the pricing
// meter and budgets, and failover work around it unchanged:
//
//	g, err := taskapi.New(taskapi.Kie(os.Getenv("KIE_API_KEY")))
//	resp, err := g.Generate(ctx, &provider.Request{Prompt: "a lighthouse at dusk", Size: "2K"})
//
// # Model IDs
//
// A task API's model ID starts with its service: "kie/nano-banana-pro",
// "kie/gpt-image-2", "replicate/google/nano-banana-pro",
// "replicate/owner/name:<version>", "apimart/gemini-3-pro-image-preview".
// The prefix keeps them apart from the Google and OpenAI IDs (the same
// model costs differently on each service), and the catalog prices them
// under these IDs. A bare name gets the generator's prefix; a Google or
// OpenAI ID of a model the service also serves (Request.Model
// "gemini-3-pro-image" on Kie.ai) is served as the service's model, with a
// warning; another service's ID, or a Google model the service does not
// serve, is refused before any call, so failover skips the route. Models
// the catalog does not list pass through with the service's usual input
// fields; taskapi.Options.Input adds any field the request cannot say.
//
// # Waiting
//
// Generate submits and waits. On Replicate the create call is held open
// until the prediction ends (Config.SyncWait, 60 s); a prediction not done
// by then is polled. Elsewhere tasks are polled on a schedule learned from
// the model's recent tasks — the first read when the quickest ended, then
// evenly until the slowest had, then less often — or around the service's
// own estimate (APIMart's estimated_time), never faster than
// Config.Poll.MinInterval and honouring Retry-After. With Config.Webhooks
// the wait ends when the service calls back, and polls are only a fallback.
// Results are downloaded as soon as a task succeeds, through the URL
// policy of Config.Fetch, since their links expire (Replicate's after an
// hour, Kie.ai's after a day).
//
// N images are N tasks (APIMart takes up to 4 per task); images that
// succeeded are returned even when a sibling task failed.
//
// # Retries never start a second task
//
// A submit answered with a refusal created nothing and may be retried. A
// submit whose answer was lost may have created a task, and is never
// repeated blindly: APIMart's is resent with the same Idempotency-Key;
// Replicate's prediction is looked up among those created since; Kie.ai,
// which has neither, gives ErrOutcomeUnknown, which is not retryable. When
// a wait ends before its tasks do (the context, Config.Poll.MaxWait), the
// tasks are cancelled where the service can (Replicate); elsewhere the
// error has CodeStillRunning and a retry of the same *provider.Request —
// the retry decorator sends the same pointer — resumes the running tasks
// instead of starting others. So does a retry after a download failed.
//
// # Detached tasks
//
// Submit returns a Task at once; Wait, Status, Result and Cancel follow
// it, and its Handle (JSON) is all Resume needs to follow it again after a
// restart:
//
//	task, err := g.Submit(ctx, req)
//	saved, _ := json.Marshal(task.Handle())
//	// ... later, in another process:
//	var h taskapi.Handle
//	_ = json.Unmarshal(saved, &h)
//	task, err = g.Resume(h)
//	resp, err := task.Result(ctx)
//
// Price a resumed result with pricing.Meter.Observe(h.Provider, h.Model,
// catalog.TierStandard, h.Request(), resp, err).
//
// # Webhooks
//
// Webhooks is the http.Handler both services call back. It verifies
// Replicate's Standard Webhooks signatures (webhook-id,
// webhook-timestamp, webhook-signature, HMAC-SHA256 with the whsec_
// secret, several signatures, constant-time compare) and Kie.ai's optional
// X-Webhook-Signature, refuses stale and replayed deliveries, and never
// believes a Kie callback's body: Kie signs only the task ID and the time,
// so the task is read back. Give it to every generator as
// Config.Webhooks; WebhookConfig.OnEvent hears deliveries nobody waits for.
//
// # Costs
//
// A cost the service reports wins: APIMart's task cost, Kie.ai's
// creditsConsumed at Config.CreditUSD a credit ($0.005), Replicate's
// predict_time at Config.PerSecond for models billed by GPU time. Otherwise
// the pricing meter prices the images billed with the catalog's per-image
// prices for these IDs (Kie.ai credits converted at $0.005; Replicate's per
// output image), and budgets reserve before the submit.
//
// # Rate limits
//
// RateLimit returns a ratelimit.Config for each service's documented
// limits: Kie.ai about 20 new tasks per 10 seconds, Replicate 600
// creations a minute (ReplicateLowCredit: 6 a minute, burst 1, below $5 of
// credit), APIMart none documented.
//
// # Testing
//
// provider/providertest emulates all three services (KieURL,
// ReplicateURL, APIMartURL): creation, every state, expiring result
// links, errors in 200 bodies, cancel, signed callbacks and faults.
package taskapi
