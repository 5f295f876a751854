package provider_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

type testOption struct{ N int }

func (testOption) OptionOwner() string { return "test" }

type otherOption struct{ S string }

func (otherOption) OptionOwner() string { return "other" }

func TestOptionOf(t *testing.T) {
	t.Parallel()
	req := &provider.Request{Prompt: "p", Options: provider.Options{otherOption{"x"}, &testOption{N: 3}}}
	if o, ok := provider.OptionOf[testOption](req); !ok || o.N != 3 {
		t.Errorf("a *T option: %+v %v", o, ok)
	}
	if o, ok := provider.OptionOf[otherOption](req); !ok || o.S != "x" {
		t.Errorf("a T option: %+v %v", o, ok)
	}
	if _, ok := provider.OptionOf[testOption](&provider.Request{}); ok {
		t.Error("found an option in an empty request")
	}
	if _, ok := provider.OptionOf[testOption](nil); ok {
		t.Error("found an option in a nil request")
	}
}

func TestValidateOptions(t *testing.T) {
	t.Parallel()
	var nilPtr *testOption
	for _, tt := range []struct {
		opts provider.Options
		want string
	}{
		{provider.Options{nil}, "Options[0]: nil option"},
		{provider.Options{nilPtr}, "Options[0]: nil option"},
		{provider.Options{testOption{1}, otherOption{}, &testOption{2}}, "Options[2]: a second provider_test.testOption"},
	} {
		err := (&provider.Request{Prompt: "p", Options: tt.opts}).Validate()
		if !errors.Is(err, provider.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.opts, err, tt.want)
		}
	}
	if err := (&provider.Request{Prompt: "p", Options: provider.Options{testOption{}, otherOption{}}}).Validate(); err != nil {
		t.Errorf("one of each type refused: %v", err)
	}
}
