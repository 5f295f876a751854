package pricing

import (
	"strings"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// TierReporter is implemented by generators that serve every request at a
// fixed price tier, such as a Batch Mode generator. The meter looks for it
// through decorators (provider.Unwrapper) when the request names no tier.
// It returns a Tier's text ("batch") so that adapters need not import this
// package.
type TierReporter interface {
	PricingTier() string
}

// TierOf returns the tier of req: the catalog.Tier among its Options
// (provider.Options{catalog.TierBatch}), otherwise the tier that g (or a
// generator it wraps) reports, otherwise catalog.TierStandard.
func TierOf(g provider.Generator, req *provider.Request) catalog.Tier {
	if t, ok := provider.OptionOf[catalog.Tier](req); ok {
		return normTier(string(t))
	}
	for h := g; h != nil; {
		if r, ok := h.(TierReporter); ok {
			return normTier(r.PricingTier())
		}
		u, ok := h.(provider.Unwrapper)
		if !ok {
			break
		}
		h = u.Unwrap()
	}
	return catalog.TierStandard
}

func normTier(s string) catalog.Tier {
	if strings.EqualFold(strings.TrimSpace(s), string(catalog.TierBatch)) {
		return catalog.TierBatch
	}
	return catalog.TierStandard
}
