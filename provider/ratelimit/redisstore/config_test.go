package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

func TestNewRejectsNonsense(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { rdb.Close() })
	tests := []struct {
		name  string
		rdb   redis.UniversalClient
		opts  Options
		field string
	}{
		{"nil client", nil, Options{}, "redisstore.New rdb"},
		{"unknown policy", rdb, Options{Common: redisopt.Common{OnUnavailable: 7}}, "redisstore.Options.Common.OnUnavailable"},
		{"negative timeout", rdb, Options{Common: redisopt.Common{Timeout: -time.Second}}, "redisstore.Options.Common.Timeout"},
		{"negative retry interval", rdb, Options{Common: redisopt.Common{RetryInterval: -time.Second}}, "redisstore.Options.Common.RetryInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.rdb, tt.opts)
			var ce *provider.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	if _, err := New(rdb, Options{}); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}
