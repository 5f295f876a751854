package catalog

import (
	"fmt"
	"time"
)

// Date is a civil date (year, month, day) without a time zone, written
// "YYYY-MM-DD" in catalog files. The zero Date means "not known" or "none".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "YYYY-MM-DD". It rejects any other layout and dates that
// do not exist (2026-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("catalog: malformed date %q: want YYYY-MM-DD", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// DateOf returns the civil date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// String returns "YYYY-MM-DD", or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// Time returns the instant the date takes effect: the start of the day in
// UTC. Providers announce shutdowns as calendar dates without a time of day;
// the catalog treats a model as shut down from 00:00 UTC on its shutdown
// date, which errs on the early side for every time zone west of UTC
// (including Pacific time, which Google uses for quota resets).
func (d Date) Time() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
}

// Reached reports whether d is set and the instant at is at or after the
// start of d (see Time).
func (d Date) Reached(at time.Time) bool {
	return !d.IsZero() && !at.Before(d.Time())
}

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.Time().Before(e.Time()) }

// MarshalText encodes d as "YYYY-MM-DD" ("" for the zero Date).
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes "YYYY-MM-DD"; empty text gives the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
