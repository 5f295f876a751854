package provider

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// USD is an amount of US dollars in millionths (micro-dollars). Integer
// arithmetic keeps sums exact: a per-image price such as $0.0336 is 33600.
type USD int64

// Common amounts.
const (
	MicroDollar USD = 1
	Cent        USD = 10_000
	Dollar      USD = 1_000_000
)

// ErrBadAmount is returned by ParseUSD for text that is not a decimal amount.
var ErrBadAmount = errors.New("provider: malformed USD amount")

// String prints the amount with a dollar sign and at least four decimals,
// more only when needed to stay exact: "$0.0390", "$1.5000", "$0.000006".
func (u USD) String() string {
	sign := ""
	v := int64(u)
	if v < 0 {
		sign = "-"
		if v == math.MinInt64 {
			return "-$9223372036854.775808"
		}
		v = -v
	}
	frac := fmt.Sprintf("%06d", v%1_000_000)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 4 {
		frac += "0"
	}
	return fmt.Sprintf("%s$%d.%s", sign, v/1_000_000, frac)
}

// Dollars returns the amount as a float, for display and metrics only.
func (u USD) Dollars() float64 { return float64(u) / 1e6 }

// MarshalText encodes the amount as plain decimal dollars ("0.039"), the
// form ParseUSD reads, so catalogs and reports stay human-editable.
func (u USD) MarshalText() ([]byte, error) {
	s := strings.TrimPrefix(u.String(), "-")
	s = strings.TrimPrefix(s, "$")
	if u < 0 {
		s = "-" + s
	}
	return []byte(s), nil
}

// UnmarshalText decodes decimal dollars; see ParseUSD.
func (u *USD) UnmarshalText(b []byte) error {
	v, err := ParseUSD(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// ParseUSD reads a decimal dollar amount such as "0.039", "$1.50", "-2" or
// "0.000001". It rejects empty text, exponents, spaces, more than six
// significant decimals and values that overflow; the error wraps ErrBadAmount.
func ParseUSD(s string) (USD, error) {
	orig := s
	bad := func(why string) (USD, error) {
		return 0, fmt.Errorf("%w: %q: %s", ErrBadAmount, orig, why)
	}
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "$")
	intPart, fracPart, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || fracPart == "") {
		return bad("no digits")
	}
	if !allDigits(intPart) || !allDigits(fracPart) {
		return bad("not a decimal number")
	}
	fracPart = strings.TrimRight(fracPart, "0")
	if len(fracPart) > 6 {
		return bad("more than six decimals")
	}
	var whole uint64
	if intPart != "" {
		var err error
		whole, err = strconv.ParseUint(intPart, 10, 64)
		if err != nil || whole > math.MaxInt64/1_000_000 {
			return bad("out of range")
		}
	}
	micro := int64(0)
	if fracPart != "" {
		f, _ := strconv.ParseInt(fracPart+strings.Repeat("0", 6-len(fracPart)), 10, 64)
		micro = f
	}
	v := int64(whole) * 1_000_000
	if v > math.MaxInt64-micro {
		return bad("out of range")
	}
	v += micro
	if neg {
		v = -v
	}
	return USD(v), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
