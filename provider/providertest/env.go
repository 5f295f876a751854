package providertest

// EnvVars returns the environment variables the provider SDKs read at
// client creation (keys, backends, base URLs, API versions, cloud
// projects). A test that points a real SDK client at the emulator must
// clear them, or a developer's real key, endpoint or API version would
// leak into it. .ci/run unsets the same list.
func EnvVars() []string {
	return []string{
		"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE",
		"GOOGLE_GEMINI_BASE_URL", "GOOGLE_VERTEX_BASE_URL", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
		"GOOGLE_CLOUD_REGION", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_API_VERSION",
		"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
		"KIE_API_KEY", "REPLICATE_API_TOKEN", "APIMART_API_KEY", // taskapi reads them for its services' own hosts
	}
}

// ClearEnv empties every variable of EnvVars for the duration of a test;
// pass the test's *testing.T or *testing.B, whose Setenv restores them.
func ClearEnv(t interface{ Setenv(key, value string) }) {
	for _, k := range EnvVars() {
		t.Setenv(k, "")
	}
}
