package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/provider"
)

// DefaultMaxResponseBytes caps a generateContent answer (after
// decompression) when Config.MaxResponseBytes is 0. The largest real
// answer: a 4K image is at most 6336x2688 (21:9; 17 MP), which as a PNG of
// incompressible RGB is about 51 MB; Pro models send up to two interim
// thought images beside the final one (and relays flatten them all into
// the answer), so 3 images x 51 MB x 4/3 for base64 = 204 MB, plus
// headroom for the JSON around them: 256 MiB.
const DefaultMaxResponseBytes = 256 << 20

// wire is what the transport read of one generateContent answer beside
// what genai decodes: the payloads of a streamed answer, and the fields
// genai drops or cannot decode.
type wire struct {
	seen     bool // the transport read the answer
	streamed *jsonimg.Result
	// finishMessages[i] is candidates[i].finishMessage: genai drops it on
	// the Gemini API backend (candidateFromMldev).
	finishMessages     []string
	blockReasonMessage string
	nullCandidate      int // 1 + the index of a null candidate, 0 when none
	usage              provider.Usage
	hasUsage           bool  // the answer had a usageMetadata
	arena              int64 // the size hint a stream's event was decoded with, or 0
	warnings           []string
}

// result returns the payloads of a streamed answer, or nil.
func (w *wire) result() *jsonimg.Result {
	if w == nil {
		return nil
	}
	return w.streamed
}

// finishMessage returns candidate i's finishMessage as sent.
func (w *wire) finishMessage(i int) string {
	if w == nil || i >= len(w.finishMessages) {
		return ""
	}
	return w.finishMessages[i]
}

// filter reads every successful generateContent answer in the transport:
// within Config.MaxResponseBytes (the transport's cap), its base64 images
// decoded as they stream in when it is large (Config.StreamThreshold), its
// JSON checked to be an object (an empty, truncated or `null` body is
// answer.CodeMalformed before genai sees it), and what genai would lose
// taken from it. Usage counts genai cannot decode (beyond int32) or must
// not believe (negative) are taken out of the JSON, with a warning, so
// that they cannot throw a good image away.
func (g *Generator) filter(w *wire) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.Request != nil && !strings.HasSuffix(resp.Request.URL.Path, ":generateContent") {
			return nil
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil
		}
		data, res, err := jsonimg.Read(resp.Body, resp.ContentLength, g.streamThreshold(), jsonimg.Gemini, answer.JSONCap(g.maxResponse))
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if err := answer.CheckObject(data); err != nil {
			return err
		}
		if err := errorIn200(data); err != nil {
			return err
		}
		w.seen, w.streamed = true, res
		data = w.read(data)
		if w.nullCandidate > 0 {
			// genai turns null into an empty candidate on one backend and
			// copes on the other: either way the answer is broken.
			return answer.Malformed("candidates[%d] is null", w.nullCandidate-1)
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
		resp.ContentLength = int64(len(data))
		if resp.Header.Get("Content-Length") != "" {
			resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
		}
		return nil
	}
}

// relayError is an error envelope a relay sent with HTTP 200 in place of
// an answer: Google's {"error":{"code","status","message","details"}},
// OpenAI's {"error":{"message","type","code"}} or a bare {"error":"..."}.
type relayError struct {
	code    int    // the envelope's numeric code, when it has one
	status  string // Google's status or OpenAI's code/type
	message string
	details []map[string]any
}

func (e *relayError) Error() string { return "error envelope in a 200 answer: " + e.message }

// errorIn200 returns a *relayError when data is an error envelope and no
// answer (no candidates, no promptFeedback).
func errorIn200(data []byte) error {
	if !bytes.Contains(data, []byte(`"error"`)) {
		return nil
	}
	var top struct {
		Error          json.RawMessage `json:"error"`
		Candidates     json.RawMessage `json:"candidates"`
		PromptFeedback json.RawMessage `json:"promptFeedback"`
	}
	if json.Unmarshal(data, &top) != nil || len(top.Error) == 0 || string(top.Error) == "null" || len(top.Candidates) > 0 || len(top.PromptFeedback) > 0 {
		return nil
	}
	e := &relayError{}
	var s string
	if json.Unmarshal(top.Error, &s) == nil {
		e.message = s
		return e
	}
	var obj struct {
		Code    any              `json:"code"`
		Status  string           `json:"status"`
		Type    string           `json:"type"`
		Message any              `json:"message"`
		Details []map[string]any `json:"details"`
	}
	if json.Unmarshal(top.Error, &obj) != nil {
		e.message = string(top.Error)
		return e
	}
	switch c := obj.Code.(type) {
	case float64:
		e.code = int(c)
	case string:
		e.status = c
	}
	if obj.Status != "" {
		e.status = obj.Status
	} else if e.status == "" {
		e.status = obj.Type
	}
	if m, ok := obj.Message.(string); ok {
		e.message = m
	} else if obj.Message != nil {
		e.message = fmt.Sprint(obj.Message)
	}
	e.details = obj.Details
	return e
}

// wireAnswer is the part of an answer read beside genai.
type wireAnswer struct {
	Candidates []*struct {
		FinishMessage string `json:"finishMessage"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReasonMessage string `json:"blockReasonMessage"`
	} `json:"promptFeedback"`
	UsageMetadata map[string]json.RawMessage `json:"usageMetadata"`
}

// read fills w from an answer's JSON and returns the JSON genai should
// decode: the same, or without its usageMetadata when that held a count
// genai cannot take. Fields of unexpected types are skipped here; genai
// judges them.
func (w *wire) read(data []byte) []byte {
	var a wireAnswer
	_ = json.Unmarshal(data, &a) // no copy of data, unlike a Decoder
	for i, c := range a.Candidates {
		if c == nil {
			w.nullCandidate = max(w.nullCandidate, i+1)
			w.finishMessages = append(w.finishMessages, "")
			continue
		}
		w.finishMessages = append(w.finishMessages, c.FinishMessage)
	}
	if a.PromptFeedback != nil {
		w.blockReasonMessage = a.PromptFeedback.BlockReasonMessage
	}
	w.hasUsage = len(a.UsageMetadata) > 0
	var bad []string
	md := make(map[string]any, len(a.UsageMetadata))
	for k, raw := range a.UsageMetadata {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			md[k] = v
		}
	}
	w.usage, bad = usageFromWire(md)
	if len(bad) == 0 {
		return data
	}
	w.warnings = append(w.warnings, fmt.Sprintf("usage counts out of range dropped: %s", strings.Join(bad, ", ")))
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return data
	}
	delete(top, "usageMetadata")
	if out, err := json.Marshal(top); err == nil {
		return out
	}
	return data
}

// usageFromWire maps usageMetadata as sent; candidatesTokensDetails is the
// only reliable split of image and text output. Counts that are not
// integers from 0 to MaxInt32 are left out and named in bad.
func usageFromWire(md map[string]any) (u provider.Usage, bad []string) {
	count := func(path string, v any) int {
		n, ok := answer.Count(v)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s=%.30v", path, v))
		}
		return n
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := md[k]
		switch k {
		case "promptTokenCount":
			u.InputTokens = count(k, v)
		case "candidatesTokenCount":
			u.OutputTokens = count(k, v)
		case "thoughtsTokenCount":
			u.ThoughtTokens = count(k, v)
		case "promptTokensDetails", "candidatesTokensDetails", "cacheTokensDetails", "toolUsePromptTokensDetails":
			list, _ := v.([]any)
			for i, d := range list {
				m, _ := d.(map[string]any)
				tc, ok := m["tokenCount"]
				if !ok {
					continue
				}
				n := count(fmt.Sprintf("%s[%d].tokenCount", k, i), tc)
				if mod, _ := m["modality"].(string); mod == "IMAGE" {
					switch k {
					case "promptTokensDetails":
						u.InputImageTokens += n
					case "candidatesTokensDetails":
						u.OutputImageTokens += n
					}
				}
			}
		default:
			if _, isNum := v.(json.Number); isNum {
				count(k, v) // totalTokenCount, cachedContentTokenCount, ...: checked, not kept
			}
		}
	}
	return u, bad
}
