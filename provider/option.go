package provider

import (
	"fmt"
	"reflect"
)

// Option is a typed setting, carried by Request.Options, for one adapter
// or decorator: what the common Request fields do not cover
// (gemini.Options{ThinkingLevel: "high"}, openaicompat.Options{Moderation:
// "low"}, cache.Skip, catalog.TierBatch). Each generator reads the options
// of its own type and ignores the others, so one request can carry options
// for every adapter failover may route it to, and the compiler checks
// every field.
//
// A type becomes an Option by naming the package that reads it.
type Option interface {
	// OptionOwner names the package that reads the option ("gemini",
	// "openaicompat", "cache"), for messages.
	OptionOwner() string
}

// Control is an Option that changes how a decorator serves a request
// (the cache's mode, the pricing tier), not which images it asks for:
// the cache leaves controls out of its keys.
type Control interface {
	Option
	// Control marks the option as a control.
	Control()
}

// Options is the list of typed options a Request carries, at most one of
// each type.
type Options []Option

// OptionOf returns the option of type T that req carries (given as a T or
// a *T), and whether it carries one.
//
//	opts, _ := provider.OptionOf[gemini.Options](req)
func OptionOf[T Option](req *Request) (T, bool) {
	var zero T
	if req == nil {
		return zero, false
	}
	for _, o := range req.Options {
		if v, ok := o.(T); ok {
			return v, true
		}
		if p, ok := any(o).(*T); ok && p != nil {
			return *p, true
		}
	}
	return zero, false
}

// checkOptions refuses a nil option and two options of one type (a T and a
// *T count as one type): which of the two applies would be a guess.
func checkOptions(opts Options) error {
	seen := make(map[reflect.Type]int, len(opts))
	for i, o := range opts {
		t := reflect.TypeOf(o)
		if t == nil || (t.Kind() == reflect.Pointer && reflect.ValueOf(o).IsNil()) {
			return invalid(fmt.Sprintf("Options[%d]", i), "nil option")
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if p, ok := previewsAt(o); ok {
			if err := p.check(i); err != nil {
				return err
			}
		}
		if j, dup := seen[t]; dup {
			return invalid(fmt.Sprintf("Options[%d]", i), "a second %s (Options[%d] is one); give one of each type", t, j)
		}
		seen[t] = i
	}
	return nil
}

// previewsAt returns o as Previews when it is one (value or pointer).
func previewsAt(o Option) (Previews, bool) {
	switch p := o.(type) {
	case Previews:
		return p, true
	case *Previews:
		if p != nil {
			return *p, true
		}
	}
	return Previews{}, false
}
