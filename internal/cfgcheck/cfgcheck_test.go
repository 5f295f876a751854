package cfgcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func TestErrors(t *testing.T) {
	t.Parallel()
	var e Errors
	if e.Err() != nil {
		t.Fatal("empty Errors is not nil")
	}
	NonNegative(&e, "A", 1, "0 or more")
	Between(&e, "B", 0.5, 0, 1)
	if e.Err() != nil {
		t.Fatalf("valid values refused: %v", e.Err())
	}
	NonNegative(&e, "Config.Wait", -time.Second, "0 (default) or more")
	if ce := (*provider.ConfigError)(nil); !errors.As(e.Err(), &ce) || ce.Field != "Config.Wait" || ce.Value != "-1s" {
		t.Fatalf("one error: %#v", e.Err())
	}
	Between(&e, "Config.Factor", 1.5, 0.0, 1.0)
	err := e.Err()
	if !errors.Is(err, provider.ErrInvalidConfig) || errors.Is(err, provider.ErrInvalidRequest) {
		t.Fatalf("joined error classification: %v", err)
	}
	for _, want := range []string{"Config.Wait = -1s", "Config.Factor = 1.5: want 0 to 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
