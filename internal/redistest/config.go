package redistest

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

// CheckNewRejectsNonsense checks the configuration every Redis store's New
// validates the same way through redisopt.Common: a nil client and each
// nonsense Common field is a *provider.ConfigError naming the field (pkg
// is the store's package name, as the fields are spelt), never a request
// error; zero options work. newStore calls the store's New with common
// set in its Options.
func CheckNewRejectsNonsense(t *testing.T, pkg string, newStore func(rdb redis.UniversalClient, common redisopt.Common) error) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { rdb.Close() })
	tests := []struct {
		name   string
		rdb    redis.UniversalClient
		common redisopt.Common
		field  string
	}{
		{"nil client", nil, redisopt.Common{}, pkg + ".New rdb"},
		{"unknown policy", rdb, redisopt.Common{OnUnavailable: 7}, pkg + ".Options.Common.OnUnavailable"},
		{"negative timeout", rdb, redisopt.Common{Timeout: -time.Second}, pkg + ".Options.Common.Timeout"},
		{"negative retry interval", rdb, redisopt.Common{RetryInterval: -time.Second}, pkg + ".Options.Common.RetryInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newStore(tt.rdb, tt.common)
			var ce *provider.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	if err := newStore(rdb, redisopt.Common{}); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}
