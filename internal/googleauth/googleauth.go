// Package googleauth is how the Google-protocol adapters (gemini, imagen)
// find their key and API version and authenticate their HTTP client, the
// same way for both.
package googleauth

import (
	"net/http"
	"os"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/httptransport"

	"github.com/imagegen-go/imagegen/internal/capture"
)

// The API versions the adapters pin. genai's own default for the Gemini API
// moved from v1beta to v1 in genai v1.78.0, where Google documents neither
// Batch nor the Files API; pinning keeps the request paths the same
// whichever genai version a program's module graph selects.
const (
	// GeminiAPIVersion is the Gemini Developer API's version (and relays').
	GeminiAPIVersion = "v1beta"
	// VertexAPIVersion is Vertex AI's, genai's default there.
	VertexAPIVersion = "v1beta1"
	// APIVersionEnv is the variable genai reads when it is given no
	// version; the adapters read it only when the caller opts in.
	APIVersionEnv = "GOOGLE_GENAI_API_VERSION"
)

// APIVersion returns the API version for a client: version when set; else,
// when fromEnv, APIVersionEnv read as genai reads it ("beta" is the
// backend's beta version, any other value is used as it is); else, or
// when the variable is unset or empty, the pinned version of the backend.
func APIVersion(version string, fromEnv, vertex bool) string {
	if version != "" {
		return version
	}
	if fromEnv {
		version = os.Getenv(APIVersionEnv)
	}
	switch {
	case version != "" && version != "beta":
		return version
	case vertex:
		return VertexAPIVersion
	default:
		return GeminiAPIVersion
	}
}

// Key returns key, or, when it is empty and fromEnv is set (the Gemini API
// backend), GEMINI_API_KEY and then GOOGLE_API_KEY (genai, given no key,
// prefers GOOGLE_API_KEY when both are set). The adapters read it
// themselves so they know what to redact.
func Key(key string, fromEnv bool) string {
	if key != "" || !fromEnv {
		return key
	}
	for _, name := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return ""
}

// Client returns a copy of hc whose transport records responses
// (internal/capture), sends key as "Authorization: Bearer" instead of
// x-goog-api-key when bearer is set (Gemini-native relays), and authorises
// every request with creds when they are given (Vertex AI), and bounds
// every answer's body with limits.
func Client(hc *http.Client, key string, bearer bool, creds *auth.Credentials, limits capture.Limits) (*http.Client, error) {
	var rewrite func(*http.Request)
	if bearer && key != "" {
		rewrite = func(r *http.Request) {
			r.Header.Del("X-Goog-Api-Key")
			r.Header.Set("Authorization", "Bearer "+key)
		}
	}
	c := capture.Client(hc, rewrite, limits)
	if creds != nil {
		if err := httptransport.AddAuthorizationMiddleware(c, creds); err != nil {
			return nil, err
		}
	}
	return c, nil
}
