package ratelimit_test

import (
	"errors"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
)

func TestNewRejectsNonsense(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   ratelimit.Config
		field string
	}{
		{"negative per minute", ratelimit.Config{RequestsPerMinute: -5}, "ratelimit.Config.RequestsPerMinute"},
		{"burst above the minute", ratelimit.Config{RequestsPerMinute: 60, Burst: 61}, "ratelimit.Config.Burst"},
		{"burst without a minute", ratelimit.Config{Burst: 5}, "ratelimit.Config.Burst"},
		{"negative burst", ratelimit.Config{RequestsPerMinute: 60, Burst: -1}, "ratelimit.Config.Burst"},
		{"negative concurrency", ratelimit.Config{MaxConcurrent: -1}, "ratelimit.Config.MaxConcurrent"},
		{"negative per day", ratelimit.Config{RequestsPerDay: -1}, "ratelimit.Config.RequestsPerDay"},
		{"negative images", ratelimit.Config{ImagesPerMinute: -1}, "ratelimit.Config.ImagesPerMinute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := ratelimit.New(tt.cfg)
			var ce *provider.ConfigError
			if mw != nil || !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	if _, err := ratelimit.New(ratelimit.Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}
