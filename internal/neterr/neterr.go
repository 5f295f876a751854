// Package neterr classifies the failures an adapter meets without a
// readable HTTP answer: cancellation, deadlines, resets, truncated and
// malformed bodies.
package neterr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/provider"
)

// Classify returns the Kind of err and a short description for
// provider.Error.Message. The caller's own cancellation is KindUnknown (not
// the provider's fault, never retried); a deadline is KindTimeout; every
// other transport or decoding failure is KindUnavailable.
func Classify(ctx context.Context, err error) (provider.Kind, string) {
	var (
		netErr    net.Error
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return provider.KindUnknown, "cancelled"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return provider.KindTimeout, "no answer before the deadline"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return provider.KindUnavailable, "truncated answer"
	case errors.As(err, &syntaxErr) || errors.As(err, &typeErr) || errors.Is(err, jsonimg.ErrMalformed):
		return provider.KindUnavailable, "malformed answer"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &netErr):
		return provider.KindUnavailable, "connection failed"
	}
	return provider.KindUnavailable, "unreadable answer"
}
