// Package googleauth is how the Google-protocol adapters (gemini, imagen)
// find their key and authenticate their HTTP client, the same way for both.
package googleauth

import (
	"net/http"
	"os"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/httptransport"

	"github.com/imagegen-go/imagegen/internal/capture"
)

// Key returns key, or, when it is empty and fromEnv is set (the Gemini API
// backend), GEMINI_API_KEY and then GOOGLE_API_KEY, as genai reads them.
// The adapters read it themselves so they know what to redact.
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
