package providertest

import "net/http"

// serveStream answers a request for a streamed answer: Gemini's
// streamGenerateContent, or "stream": true (stream=true in a multipart
// form) on the OpenAI-style endpoints. It runs after authentication,
// faults and rate limits, so an injected fault or a 429 still answers
// first, as it would before a real stream starts.
//
// The emulator does not stream yet. Answering a normal JSON body would be
// worse than refusing: openai-node runs its SSE parser on any 200 to a
// stream request and yields nothing, raising nothing. So it refuses in
// each service's own words for a model that cannot stream:
//
//   - OpenAI-style: 400 invalid_request_error, param "stream", code
//     "unsupported_value", "Unsupported value: 'stream' does not support
//     true with this model. Supported values are: false." (what OpenAI
//     answers for a model without streaming, e.g. o1 in 2024:
//     https://github.com/github/gh-models/issues/31,
//     https://github.com/animalnots/BetterChatGPT-PLUS/issues/62; checked
//     2026-12-04);
//   - Gemini: 404 NOT_FOUND "models/X is not found for API version V, or is
//     not supported for streamGenerateContent. ...", Google's answer for a
//     model that does not serve a method.
//
// Emulating the streams (issue 19) replaces this function's body: the
// routing (EndpointStreamGenerateContent, route.stream), the order of
// checks and the faults stay.
func (s *Server) serveStream(w http.ResponseWriter, c *call) {
	if c.rt.wire == wireGoogle {
		model := c.rt.model
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", modelNotFoundMessage(c.rt, model), nil)
		return
	}
	writeOpenAIError(w, http.StatusBadRequest,
		"Unsupported value: 'stream' does not support true with this model. Supported values are: false.",
		"invalid_request_error", "stream", "unsupported_value", nil)
}
