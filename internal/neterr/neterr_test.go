package neterr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	var syntaxErr error = &json.SyntaxError{}
	tests := []struct {
		ctx  context.Context
		err  error
		kind provider.Kind
		msg  string
	}{
		{cancelled, fmt.Errorf("post: %w", context.Canceled), provider.KindUnknown, "cancelled"},
		{live, fmt.Errorf("post: %w", context.Canceled), provider.KindUnavailable, "unreadable answer"},
		{live, context.DeadlineExceeded, provider.KindTimeout, "no answer before the deadline"},
		{live, io.ErrUnexpectedEOF, provider.KindUnavailable, "truncated answer"},
		{live, syntaxErr, provider.KindUnavailable, "malformed answer"},
		{live, fmt.Errorf("read: %w", syscall.ECONNRESET), provider.KindUnavailable, "connection failed"},
		{live, errors.New("something else"), provider.KindUnavailable, "unreadable answer"},
	}
	for _, tt := range tests {
		kind, msg := Classify(tt.ctx, tt.err)
		if kind != tt.kind || msg != tt.msg {
			t.Errorf("Classify(%v) = %v %q, want %v %q", tt.err, kind, msg, tt.kind, tt.msg)
		}
	}
}
