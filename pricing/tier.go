package pricing

import (
	"strings"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// OptionTier is the Request.Options key that names the price tier of a
// request: "standard" (the default) or "batch". A Batch Mode adapter sets it
// on the requests it submits (or implements TierReporter), so the meter
// prices them at half the standard rate and budgets reserve accordingly.
const OptionTier = "pricing_tier"

// TierReporter is implemented by generators that serve every request at a
// fixed price tier, such as a Batch Mode generator. The meter looks for it
// through decorators (provider.Unwrapper) when the request names no tier.
// It returns a Tier's text ("batch") so that adapters need not import this
// package.
type TierReporter interface {
	PricingTier() string
}

// TierOf returns the tier of req: Options[OptionTier] when set ("batch" or
// "standard", case-insensitive; a Tier value is accepted too), otherwise
// the tier that g (or a generator it wraps) reports, otherwise
// TierStandard.
func TierOf(g provider.Generator, req *provider.Request) catalog.Tier {
	if req != nil {
		switch v := req.Options[OptionTier].(type) {
		case catalog.Tier:
			return normTier(string(v))
		case string:
			return normTier(v)
		}
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
