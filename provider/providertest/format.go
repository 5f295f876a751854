package providertest

import (
	"fmt"
	"io"

	"github.com/imagegen-go/imagegen/internal/secret"
)

// String describes the options without the key.
func (o Options) String() string { return fmt.Sprintf("%v", o) }

// Format prints the options with APIKey and ControlToken redacted, under every verb (%v,
// %+v, %#v, %s, ...): test logs are logs too.
func (o Options) Format(f fmt.State, verb rune) {
	type options Options // without methods
	r := options(o)
	if r.APIKey != "" {
		r.APIKey = secret.Mask
	}
	if r.ControlToken != "" {
		r.ControlToken = secret.Mask
	}
	secret.Format(f, verb, r, "providertest.options", "providertest.Options")
}

// String names the server by its URL.
func (s *Server) String() string {
	if s == nil {
		return "providertest.Server(nil)"
	}
	return "providertest.Server(" + s.URL() + ")"
}

// Format prints String under every verb, so that no verb reaches the key
// through reflection.
func (s *Server) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') && s != nil {
		fmt.Fprintf(f, "&providertest.Server{URL:%q}", s.URL())
		return
	}
	_, _ = io.WriteString(f, s.String())
}
