package pricing_test

import (
	"errors"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/provider"
)

func TestNewBudgetRejectsNonsense(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   pricing.BudgetConfig
		field string
	}{
		{"negative daily cap", pricing.BudgetConfig{Limits: pricing.Limits{Daily: -1}}, "pricing.BudgetConfig.Limits.Daily"},
		{"negative monthly cap", pricing.BudgetConfig{Limits: pricing.Limits{Monthly: -provider.Dollar}}, "pricing.BudgetConfig.Limits.Monthly"},
		{"threshold above 1", pricing.BudgetConfig{Thresholds: []float64{2}}, "pricing.BudgetConfig.Thresholds[0]"},
		{"negative threshold", pricing.BudgetConfig{Thresholds: []float64{0.5, -1}}, "pricing.BudgetConfig.Thresholds[1]"},
		{"label scope without =", pricing.BudgetConfig{PerLabel: map[string]pricing.Limits{"team": {Daily: 1}}}, `pricing.BudgetConfig.PerLabel["team"]`},
		{"negative label cap", pricing.BudgetConfig{PerLabel: map[string]pricing.Limits{"team=a": {Daily: -1}}}, `pricing.BudgetConfig.PerLabel["team=a"].Daily`},
		{"negative estimate", pricing.BudgetConfig{Estimate: catalog.EstimateConfig{UnknownPerImage: -1}}, "pricing.BudgetConfig.Estimate.UnknownPerImage"},
		{"negative wait", pricing.BudgetConfig{WaitForRoom: -time.Second}, "pricing.BudgetConfig.WaitForRoom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := pricing.NewBudget(tt.cfg)
			var ce *provider.ConfigError
			if b != nil || !errors.As(err, &ce) || ce.Field != tt.field {
				t.Fatalf("err = %v, want a ConfigError for %s", err, tt.field)
			}
			if errors.Is(err, provider.ErrInvalidRequest) {
				t.Error("a configuration mistake is a request error")
			}
		})
	}
	if _, err := pricing.NewBudget(pricing.BudgetConfig{Thresholds: []float64{0.5, 1}}); err != nil {
		t.Errorf("valid thresholds refused: %v", err)
	}
}

func TestCeilingRejectsNonsense(t *testing.T) {
	t.Parallel()
	for _, v := range []provider.USD{0, -provider.Cent} {
		mw, err := pricing.Ceiling(v)
		var ce *provider.ConfigError
		if mw != nil || !errors.As(err, &ce) || ce.Field != "pricing.Ceiling perImage" || errors.Is(err, provider.ErrInvalidRequest) {
			t.Errorf("Ceiling(%v) = %v, want a ConfigError", v, err)
		}
	}
}
