package taskapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// flexInt reads a JSON number or a numeric string (services write both);
// anything else reads as 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	v, ok := flexNumber(b)
	if !ok || v < math.MinInt64/2 || v > math.MaxInt64/2 {
		v = 0
	}
	*f = flexInt(v)
	return nil
}

// flexFloat reads a JSON number or a numeric string; anything else reads
// as 0.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	v, _ := flexNumber(b)
	*f = flexFloat(v)
	return nil
}

// flexNumber reads b, a JSON number or a numeric string, as a finite
// number; anything else is 0, false.
func flexNumber(b []byte) (float64, bool) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if json.Unmarshal(b, &s) != nil {
			return 0, false
		}
		b = []byte(strings.TrimSpace(s))
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// flexString reads a JSON string, or a number as its text; null and
// anything else read as "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*f = flexString(n.String())
		return nil
	}
	*f = ""
	return nil
}

// flexURLs reads a link or a list of links (APIMart writes both, Replicate's
// output is either); other values are skipped.
type flexURLs []string

func (f *flexURLs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "" {
			*f = flexURLs{s}
		}
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(b, &list) != nil {
		*f = nil
		return nil
	}
	out := flexURLs{}
	for _, raw := range list {
		if json.Unmarshal(raw, &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	*f = out
	return nil
}

// usd converts a dollar figure to provider.USD, rounding to the
// micro-dollar; negative, absurd and non-finite figures give false.
func usd(v float64) (int64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1e6 {
		return 0, false
	}
	return int64(math.Round(v * 1e6)), true
}
