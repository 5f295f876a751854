package jsonimg

import (
	"bytes"
	"fmt"
	"io"
)

// DefaultThreshold is the answer size from which adapters stream by
// default: below it, the SDK's own decoding costs little and is as fast.
const DefaultThreshold = 256 << 10

// Read reads a whole JSON answer from body, whose length is contentLength
// (-1 when unknown). An answer of at least threshold bytes is rewritten
// (RewriteLimit, with maxJSON) and res holds its payloads; a smaller one,
// or any with threshold < 0, is returned as it came and res is nil. An
// answer of unknown length is read up to threshold bytes first: a shorter
// one is returned as it is, a longer one rewritten without a size hint.
// json is what the answer's decoders should see. Read errors (a body over
// its transport cap) are returned wrapped.
func Read(body io.Reader, contentLength, threshold int64, schema Schema, maxJSON int64) (json []byte, res *Result, err error) {
	if threshold < 0 || (contentLength >= 0 && contentLength < threshold) {
		data, err := readAll(body, contentLength)
		if err != nil {
			return nil, nil, fmt.Errorf("jsonimg: reading body: %w", err)
		}
		return data, nil, nil
	}
	if contentLength < 0 && threshold > 0 {
		head, err := io.ReadAll(io.LimitReader(body, threshold))
		if err != nil {
			return nil, nil, fmt.Errorf("jsonimg: reading body: %w", err)
		}
		if int64(len(head)) < threshold {
			return head, nil, nil
		}
		body = io.MultiReader(bytes.NewReader(head), body)
	}
	res, err = RewriteLimit(body, contentLength, schema, maxJSON)
	if err != nil {
		return nil, nil, err
	}
	return res.JSON, res, nil
}

// readAll is io.ReadAll (the same loop) into a buffer of the announced
// length, when there is one (below the streaming threshold), instead of
// one grown from 512 bytes; a body longer than announced is still read
// whole.
func readAll(body io.Reader, contentLength int64) ([]byte, error) {
	if contentLength <= 0 {
		return io.ReadAll(body)
	}
	b := make([]byte, 0, contentLength+1) // +1: room to see the end without growing
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}
