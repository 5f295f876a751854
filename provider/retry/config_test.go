package retry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/retry"
)

func TestNewRejectsNonsense(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		p     retry.Policy
		field string
	}{
		{"negative attempts", retry.Policy{MaxAttempts: -1}, "retry.Policy.MaxAttempts"},
		{"multiplier below 1", retry.Policy{Multiplier: 0.5}, "retry.Policy.Multiplier"},
		{"negative interval", retry.Policy{InitialInterval: -time.Second}, "retry.Policy.InitialInterval"},
		{"negative max wait", retry.Policy{MaxWait: -time.Second}, "retry.Policy.MaxWait"},
		{"jitter above 1", retry.Policy{RandomizationFactor: 1.5}, "retry.Policy.RandomizationFactor"},
		{"max below initial", retry.Policy{InitialInterval: time.Minute, MaxInterval: time.Second}, "retry.Policy.MaxInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mw, err := retry.New(tt.p)
			var ce *provider.ConfigError
			if mw != nil || !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	for _, ok := range []retry.Policy{{}, {MaxAttempts: 1}, {RandomizationFactor: -1}, {Multiplier: 1}, {InitialInterval: time.Minute}} {
		if _, err := retry.New(ok); err != nil {
			t.Errorf("New(%+v): %v", ok, err)
		}
	}
}
