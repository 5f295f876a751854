package imagen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/googleerr"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/textutil"
	"github.com/imagegen-go/imagegen/provider"
)

// generateDirect posts :predict to the Gemini API (or a relay).
func (g *Generator) generateDirect(ctx context.Context, p *params) (*provider.Response, error) {
	body, err := json.Marshal(p.body())
	if err != nil {
		return nil, g.invalid(p.model, "encoding the request: %v", err)
	}
	ctx, rec := capture.WithRecord(ctx)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, g.predict+url.PathEscape(p.model)+":predict", bytes.NewReader(body))
	if err != nil {
		return nil, g.invalid(p.model, "building the request: %v", g.redact(err.Error()))
	}
	hreq.Header.Set("Content-Type", "application/json")
	// Header auth only: the key never goes into the URL. With BearerAuth
	// the transport swaps this header for Authorization: Bearer.
	hreq.Header.Set("X-Goog-Api-Key", g.key)
	resp, err := g.http.Do(hreq)
	calls := max(rec.Calls(), 1)
	if err != nil {
		return nil, g.transportError(ctx, p.model, err, rec)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		// The transport cuts an error body at 1 MiB.
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, g.transportError(ctx, p.model, err, rec)
		}
		e := g.httpError(p.model, resp.StatusCode, resp.Header, data)
		if pe, ok := e.(*provider.Error); ok && rec.Cut() {
			pe.Message += " (error body cut at 1 MiB)"
		}
		return nil, e
	}
	// The base64 images are decoded as they stream in; the JSON left is
	// small, and capped.
	data, res, err := jsonimg.Read(resp.Body, resp.ContentLength, 0, jsonimg.Imagen, answer.JSONCap(g.maxResp))
	if err == nil {
		err = answer.CheckObject(data)
	}
	if err != nil {
		return nil, g.transportError(ctx, p.model, err, rec)
	}
	out, err := g.decodePredict(p.model, data, res)
	if err != nil {
		return nil, err
	}
	out.Attempts = calls
	out.Warnings = append(p.warnings[:len(p.warnings):len(p.warnings)], out.Warnings...)
	return out, nil
}

// prediction is one entry of predictions[]; the Vertex shape as genai
// decodes it carries the same fields.
type prediction struct {
	BytesBase64Encoded string `json:"bytesBase64Encoded"`
	MIMEType           string `json:"mimeType"`
	RAIFilteredReason  string `json:"raiFilteredReason"`
	Prompt             string `json:"prompt"` // the enhanced prompt, when enhancePrompt rewrote it
	// safetyAttributes, contentType "Positive Prompt": not an image.
	SafetyAttributes *struct {
		ContentType string `json:"contentType"`
	} `json:"safetyAttributes"`
}

// decodePredict turns an HTTP 200 :predict body into a Response, or into
// the typed error it really is: an error envelope sent with 200, no
// image at all (all filtered, or {}), an unreadable body. res maps the
// markers internal/jsonimg left in bytesBase64Encoded to their images (nil
// when the body was not rewritten).
func (g *Generator) decodePredict(model string, body []byte, res *jsonimg.Result) (*provider.Response, error) {
	if code, status, msg, details, ok := googleerr.ParseBody(body); ok {
		// A relay that answers 200 with an error envelope. Its code may be
		// missing or a gRPC code rather than an HTTP status.
		if code < 400 || code > 599 {
			code = http.StatusInternalServerError
		}
		err := g.envelopeError(model, code, status, msg, googleerr.ParseDetails(details), nil)
		if pe, ok := err.(*provider.Error); ok && pe.Kind == provider.KindUnknown {
			pe.Kind = provider.KindUnavailable
		}
		return nil, err
	}
	malformed := func(why string) error {
		return &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, StatusCode: http.StatusOK,
			Code: answer.CodeMalformed, Message: g.secrets.Clean("unreadable :predict answer: "+why, textutil.MaxMessage)}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		why := "not a JSON object"
		if err != nil {
			why = textutil.Truncate(err.Error(), textutil.MaxDetail)
		}
		return nil, malformed(why)
	}
	// {} is how Imagen says "all filtered"; anything else without
	// predictions is not an Imagen answer (a relay's own error shape), which
	// must not pass for a safety block that nobody retries.
	if _, ok := top["predictions"]; !ok {
		for k := range top {
			if !predictResponseKeys[k] {
				return nil, malformed(fmt.Sprintf("no predictions and an unexpected field %q", textutil.Truncate(k, 40)))
			}
		}
	}
	var r struct {
		Predictions []json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, malformed(textutil.Truncate(err.Error(), textutil.MaxDetail))
	}
	results := make([]result, 0, len(r.Predictions))
	for _, raw := range r.Predictions {
		var pr prediction
		if err := json.Unmarshal(raw, &pr); err != nil {
			results = append(results, result{broken: "unreadable: " + textutil.Truncate(err.Error(), textutil.MaxDetail)})
			continue
		}
		if pr.SafetyAttributes != nil && pr.SafetyAttributes.ContentType == "Positive Prompt" {
			continue
		}
		r := result{filtered: pr.RAIFilteredReason, mimeType: pr.MIMEType, revised: pr.Prompt}
		if pl, ok := res.LookupText(pr.BytesBase64Encoded); ok {
			r.data = pl.Data
		} else if pr.BytesBase64Encoded != "" {
			data, err := decodeBase64(pr.BytesBase64Encoded)
			if err != nil {
				r = result{broken: "undecodable base64"}
			} else {
				r.data = data
			}
		}
		results = append(results, r)
	}
	return g.finish(model, results, nil)
}

// predictResponseKeys are the top-level fields of a :predict answer that
// may stand without predictions.
var predictResponseKeys = map[string]bool{"metadata": true, "deployedModelId": true, "model": true,
	"modelDisplayName": true, "modelVersionId": true}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// result is one prediction, from either backend.
type result struct {
	data     []byte
	mimeType string
	filtered string // raiFilteredReason
	revised  string
	broken   string // why the prediction could not be read
}

// finish builds the Response of one :predict call: images whose bytes
// are an image (MIME checked against them), a warning per filtered or
// dropped prediction, and ErrContentBlocked when no image is left because
// the safety filters took them (or the answer held no prediction at all,
// which is how Imagen says "all filtered" without includeRaiReason).
func (g *Generator) finish(model string, results []result, warnings []string) (*provider.Response, error) {
	out := &provider.Response{Provider: g.name, Model: model}
	var reasons []string
	dropped, broken := 0, 0
	for i, r := range results {
		switch {
		case r.broken != "":
			broken++
			warnings = append(warnings, fmt.Sprintf("image %d of %d dropped: %s", i+1, len(results), r.broken))
		case len(r.data) > 0:
			sniffed := provider.SniffMIME(r.data)
			if sniffed == "" {
				dropped++
				warnings = append(warnings, fmt.Sprintf("image %d of %d dropped: %d bytes labelled %.60q are not an image", i+1, len(results), len(r.data), r.mimeType))
				continue
			}
			if r.mimeType != "" && !strings.EqualFold(r.mimeType, sniffed) {
				warnings = append(warnings, fmt.Sprintf("image %d labelled %.60q is %s", i+1, r.mimeType, sniffed))
			}
			out.Images = append(out.Images, provider.Image{Data: r.data, MIMEType: sniffed, RevisedPrompt: g.secrets.Clean(r.revised, textutil.MaxKept)})
		case r.filtered != "":
			reasons = append(reasons, r.filtered)
			warnings = append(warnings, fmt.Sprintf("image %d of %d filtered: %s", i+1, len(results), g.secrets.Clean(r.filtered, textutil.MaxDetail)))
		default:
			dropped++
			warnings = append(warnings, fmt.Sprintf("image %d of %d: prediction without image or reason", i+1, len(results)))
		}
	}
	if len(out.Images) == 0 {
		e := &provider.Error{Kind: provider.KindContentBlocked, Provider: g.name, Model: model, StatusCode: http.StatusOK,
			Code: "RAI_FILTERED", Usage: &provider.Usage{}}
		switch {
		case broken > 0:
			// A corrupt answer is the provider's trouble: retry or fail over.
			e.Kind, e.Code = provider.KindUnavailable, "MALFORMED"
			e.Message = textutil.Truncate(strings.Join(warnings, "; "), textutil.MaxMessage)
		case len(reasons) > 0:
			e.Message = fmt.Sprintf("all %d images filtered: %s", len(results), g.secrets.Clean(reasons[0], textutil.MaxDetail))
		case dropped > 0:
			e.Kind, e.Code = provider.KindNoImage, "NO_IMAGE"
			e.Message = textutil.Truncate(strings.Join(warnings, "; "), textutil.MaxMessage)
		default:
			e.Message = "no image returned: the safety filters removed every prediction"
		}
		return nil, e
	}
	out.Usage.Images = len(out.Images)
	for i := range warnings {
		warnings[i] = g.secrets.Clean(warnings[i], textutil.MaxMessage)
	}
	out.Warnings = warnings
	return out, nil
}

// generateVertex calls genai's GenerateImages on Vertex AI.
func (g *Generator) generateVertex(ctx context.Context, p *params) (*provider.Response, error) {
	client, err := g.vertex()
	if err != nil {
		return nil, provider.WithOrigin(err, g.name, p.model)
	}
	ctx, rec := capture.WithRecord(ctx)
	var streamed *jsonimg.Result
	rec.SetFilter(func(resp *http.Response) error {
		// The images are decoded as the answer streams in; genai decodes
		// the small JSON left, after we checked it is an object.
		if resp.StatusCode < 200 || resp.StatusCode > 299 || (resp.Request != nil && !strings.HasSuffix(resp.Request.URL.Path, ":predict")) {
			return nil
		}
		data, res, err := jsonimg.Read(resp.Body, resp.ContentLength, 0, jsonimg.Imagen, answer.JSONCap(g.maxResp))
		_ = resp.Body.Close()
		if err == nil {
			err = answer.CheckObject(data)
		}
		if err != nil {
			return err
		}
		streamed = res
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(data)), int64(len(data))
		resp.Header.Del("Content-Length")
		return nil
	})
	// genai's converters read the config; build a fresh one per call. A
	// panic in its decoding is an error, not a crash.
	resp, err := answer.Guard(func() (*genai.GenerateImagesResponse, error) {
		return client.Models.GenerateImages(ctx, p.model, p.prompt, p.vertexConfig())
	})
	calls := max(rec.Calls(), 1)
	if err != nil {
		return nil, g.mapGenaiError(ctx, p.model, err, rec)
	}
	var results []result
	for _, gi := range resp.GeneratedImages {
		if gi == nil {
			continue
		}
		r := result{filtered: gi.RAIFilteredReason, revised: gi.EnhancedPrompt}
		if gi.Image != nil {
			r.data, r.mimeType = gi.Image.ImageBytes, gi.Image.MIMEType
			if pl, ok := streamed.Lookup(r.data); ok {
				r.data = pl.Data
			}
		}
		results = append(results, r)
	}
	out, err := g.finish(p.model, results, nil)
	if err != nil {
		return nil, err
	}
	out.Attempts = calls
	out.Warnings = append(p.warnings[:len(p.warnings):len(p.warnings)], out.Warnings...)
	return out, nil
}

// vertexConfig builds the GenerateImagesConfig of p. genai drops false
// booleans (omitempty), so addWatermark and enhancePrompt go through
// ExtraBody, which genai merges into the body it sends.
func (p *params) vertexConfig() *genai.GenerateImagesConfig {
	c := &genai.GenerateImagesConfig{
		NumberOfImages:    int32(p.sampleCount),
		AspectRatio:       p.aspectRatio,
		ImageSize:         p.imageSize,
		PersonGeneration:  genai.PersonGeneration(p.personGeneration),
		SafetyFilterLevel: genai.SafetyFilterLevel(p.safetySetting),
		OutputMIMEType:    p.mimeType,
		NegativePrompt:    p.negativePrompt,
		Seed:              p.seed,
		IncludeRAIReason:  true,
	}
	if p.compression != nil {
		q := int32(*p.compression)
		c.OutputCompressionQuality = &q
	}
	extra := map[string]any{}
	if p.addWatermark != nil {
		extra["addWatermark"] = *p.addWatermark
	}
	if p.enhancePrompt != nil {
		extra["enhancePrompt"] = *p.enhancePrompt
	}
	if len(extra) > 0 {
		c.HTTPOptions = &genai.HTTPOptions{ExtraBody: map[string]any{"parameters": extra}}
	}
	return c
}
