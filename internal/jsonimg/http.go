package jsonimg

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// DefaultThreshold is the answer size from which adapters stream by
// default: below it, the SDK's own decoding costs little and is as fast.
const DefaultThreshold = 256 << 10

var peekPool = sync.Pool{New: func() any { b := make([]byte, DefaultThreshold); return &b }}

// RewriteResponse applies Rewrite to a successful (2xx) answer of at least
// threshold bytes and replaces resp.Body with the rewritten JSON (closing
// the original). Error answers, smaller ones and bodies still
// content-encoded are left alone, and it returns nil. An answer of unknown
// length (chunked) is read up to threshold bytes first: a shorter one is
// handed on unchanged (from memory), a longer one is rewritten, without a
// size hint.
func RewriteResponse(resp *http.Response, threshold int64, schema Schema) (*Result, error) {
	if resp == nil || resp.StatusCode < 200 || resp.StatusCode > 299 || resp.Body == nil || resp.Body == http.NoBody {
		return nil, nil
	}
	if resp.ContentLength >= 0 && resp.ContentLength < threshold {
		return nil, nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, nil
	}
	var body io.Reader = resp.Body
	if resp.ContentLength < 0 && threshold > 0 {
		bp := peekPool.Get().(*[]byte)
		buf := *bp
		if threshold > int64(len(buf)) {
			buf = make([]byte, threshold)
		}
		n, err := io.ReadFull(resp.Body, buf[:threshold])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// A small answer: the SDK decodes it as usual, from the
			// buffer, which goes back to the pool when the body is closed.
			_ = resp.Body.Close()
			resp.Body = &pooledBody{r: bytes.NewReader(buf[:n]), bp: bp}
			return nil, nil
		}
		defer peekPool.Put(bp)
		if err != nil {
			_ = resp.Body.Close()
			resp.Body = http.NoBody
			return nil, fmt.Errorf("jsonimg: reading body: %w", err)
		}
		body = io.MultiReader(bytes.NewReader(buf[:n]), resp.Body)
	}
	res, err := Rewrite(body, resp.ContentLength, schema)
	_ = resp.Body.Close()
	if err != nil {
		resp.Body = http.NoBody
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(res.JSON))
	resp.ContentLength = int64(len(res.JSON))
	if resp.Header.Get("Content-Length") != "" {
		resp.Header.Set("Content-Length", strconv.Itoa(len(res.JSON)))
	}
	return res, nil
}

// pooledBody replays a small answer from a pooled buffer and returns the
// buffer on Close; reads after Close see the end of the body.
type pooledBody struct {
	r  *bytes.Reader
	bp *[]byte
}

func (b *pooledBody) Read(p []byte) (int, error) {
	if b.r == nil {
		return 0, io.EOF
	}
	return b.r.Read(p)
}

func (b *pooledBody) Close() error {
	if b.bp != nil {
		b.r = nil
		peekPool.Put(b.bp)
		b.bp = nil
	}
	return nil
}
