package taskapi

import (
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

// RateLimit returns the limits service s documents, as a ratelimit.Config
// keyed by the service's name (give every generator of one account the
// same Key and Store):
//
//   - Kie.ai: "up to 20 new generation requests per 10 seconds" per
//     account, over-limit requests refused (429), not queued. The
//     limiter's windows are a minute long, so the preset is 120 a minute
//     started at least half a second apart (Burst 1): no 10-second window
//     holds more than 20 starts. Each image of a request is a task: a
//     request with N = 4 starts four, which ImagesPerMinute counts but the
//     spacing does not; Kie's 429 then comes back as provider.ErrRateLimited
//     with a 10 s hint, and nothing was created or billed.
//   - Replicate: "600 requests per minute" to create predictions (each
//     image is a prediction). Below $5 of credit Replicate allows 6 a
//     minute with a burst of 1: use ReplicateLowCredit.
//   - APIMart documents no limit: the zero Config, which still honours
//     the service's 429s.
func RateLimit(s Service) ratelimit.Config {
	switch s {
	case ServiceKie:
		return ratelimit.Config{Key: string(s), RequestsPerMinute: 120, Burst: 1, ImagesPerMinute: 120}
	case ServiceReplicate:
		return ratelimit.Config{Key: string(s), RequestsPerMinute: 600, ImagesPerMinute: 600}
	}
	return ratelimit.Config{Key: string(s)}
}

// ReplicateLowCredit is Replicate's limit while an account has less than
// $5 of credit: 6 predictions a minute, burst 1.
func ReplicateLowCredit() ratelimit.Config {
	return ratelimit.Config{Key: string(ServiceReplicate), RequestsPerMinute: 6, Burst: 1, ImagesPerMinute: 6}
}
