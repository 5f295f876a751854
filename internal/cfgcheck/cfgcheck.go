// Package cfgcheck collects the configuration mistakes a constructor finds
// into one error of *provider.ConfigError values, so that a caller sees
// every bad field at once, each named with the range it accepts.
package cfgcheck

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/imagegen-go/imagegen/provider"
)

// Errors gathers configuration mistakes. The zero value is ready to use.
type Errors struct{ errs []error }

// Add records a mistake: field holds value, and want says what is
// accepted.
func (e *Errors) Add(field string, value any, want string) {
	e.errs = append(e.errs, provider.InvalidConfig(field, value, want))
}

// Addf records a mistake whose accepted range is formatted from format and
// args.
func (e *Errors) Addf(field string, value any, format string, args ...any) {
	e.Add(field, value, fmt.Sprintf(format, args...))
}

// NonNegative records field when v is negative; want describes what zero
// and positive values mean ("0 (default 4) or more").
func NonNegative[T cmp.Ordered](e *Errors, field string, v T, want string) {
	var zero T
	if v < zero {
		e.Add(field, v, want)
	}
}

// Between records field when v is outside [lo, hi].
func Between[T cmp.Ordered](e *Errors, field string, v, lo, hi T) {
	if v < lo || v > hi {
		e.Addf(field, v, "%v to %v", lo, hi)
	}
}

// Err returns nil when nothing was recorded, the one error when one was,
// and errors.Join of them all otherwise. errors.Is(err,
// provider.ErrInvalidConfig) and errors.As(err, **provider.ConfigError)
// work on every form.
func (e *Errors) Err() error {
	switch len(e.errs) {
	case 0:
		return nil
	case 1:
		return e.errs[0]
	}
	return errors.Join(e.errs...)
}
