package cli

import (
	"context"
	"io"
)

func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error { return nil }
