package cli

import (
	"context"
	"io"
)

func Batch(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return nil }
func Probe(ctx context.Context, args []string, stdout, stderr io.Writer) error  { return nil }
