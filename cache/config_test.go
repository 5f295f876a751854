package cache

import (
	"errors"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func TestConstructorsRejectNonsense(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   func() error
		field string
	}{
		{"memory of negative size", func() error { _, err := NewMemory(-1, nil); return err }, "cache.NewMemory maxBytes"},
		{"negative lock TTL", func() error { _, err := New(Config{LockTTL: -time.Second}); return err }, "cache.Config.LockTTL"},
		{"disk of negative size", func() error { _, err := OpenDisk(t.TempDir(), DiskConfig{MaxBytes: -1}); return err }, "cache.DiskConfig.MaxBytes"},
		{"disk without a directory", func() error { _, err := OpenDisk("", DiskConfig{}); return err }, "cache.OpenDisk dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			var ce *provider.ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	if _, err := New(Config{TTL: -1}); err != nil {
		t.Errorf("a negative TTL means no expiry: %v", err)
	}
}
