package provider

import (
	"errors"
	"fmt"
)

// ErrInvalidConfig matches every *ConfigError with errors.Is: a constructor
// refused its configuration. It is not a Kind, because a configuration
// mistake is the program's, found once at start-up, not a request's.
var ErrInvalidConfig = errors.New("imagegen: invalid configuration")

// ConfigError is a configuration value a constructor refused. Field names
// it as the caller wrote it ("ratelimit.Config.Burst"), Value is what was
// given (never a secret: constructors leave it empty for credentials) and
// Want says what is accepted ("0 to RequestsPerMinute (60)").
type ConfigError struct {
	Field string
	Value string
	Want  string
	Err   error // underlying cause, if any
}

// InvalidConfig returns a *ConfigError for field, formatting value with %v.
func InvalidConfig(field string, value any, want string) *ConfigError {
	return &ConfigError{Field: field, Value: fmt.Sprint(value), Want: want}
}

// Error formats as "ratelimit.Config.Burst = 100: want 0 to
// RequestsPerMinute (60)".
func (e *ConfigError) Error() string {
	s := "imagegen: invalid configuration: " + e.Field
	if e.Value != "" {
		s += " = " + e.Value
	}
	if e.Want != "" {
		s += ": want " + e.Want
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrInvalidConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }
