package rediscache

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/internal/redistest"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

func TestNewRejectsNonsense(t *testing.T) {
	t.Parallel()
	redistest.CheckNewRejectsNonsense(t, "rediscache", func(rdb redis.UniversalClient, common redisopt.Common) error {
		_, err := New(rdb, Options{Common: common})
		return err
	})
}
