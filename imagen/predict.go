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

	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/googleerr"
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
		return nil, g.transportError(ctx, p.model, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err == nil && len(data) > MaxResponseBytes {
		err = fmt.Errorf("answer larger than %d MiB", MaxResponseBytes>>20)
	}
	if err != nil {
		return nil, g.transportError(ctx, p.model, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, g.httpError(p.model, resp.StatusCode, resp.Header, data)
	}
	out, err := g.decodePredict(p.model, data)
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
// image at all (all filtered, or {}), an unreadable body.
func (g *Generator) decodePredict(model string, body []byte) (*provider.Response, error) {
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
			Code: "MALFORMED", Message: "unreadable :predict answer: " + why}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		why := "not a JSON object"
		if err != nil {
			why = googleerr.Truncate(err.Error(), 200)
		}
		return nil, malformed(why)
	}
	// {} is how Imagen says "all filtered"; anything else without
	// predictions is not an Imagen answer (a relay's own error shape), which
	// must not pass for a safety block that nobody retries.
	if _, ok := top["predictions"]; !ok {
		for k := range top {
			if !predictResponseKeys[k] {
				return nil, malformed(fmt.Sprintf("no predictions and an unexpected field %q", googleerr.Truncate(k, 40)))
			}
		}
	}
	var r struct {
		Predictions []json.RawMessage `json:"predictions"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, malformed(googleerr.Truncate(err.Error(), 200))
	}
	results := make([]result, 0, len(r.Predictions))
	for _, raw := range r.Predictions {
		var pr prediction
		if err := json.Unmarshal(raw, &pr); err != nil {
			results = append(results, result{broken: "unreadable: " + googleerr.Truncate(err.Error(), 200)})
			continue
		}
		if pr.SafetyAttributes != nil && pr.SafetyAttributes.ContentType == "Positive Prompt" {
			continue
		}
		res := result{filtered: pr.RAIFilteredReason, mimeType: pr.MIMEType, revised: pr.Prompt}
		if pr.BytesBase64Encoded != "" {
			data, err := decodeBase64(pr.BytesBase64Encoded)
			if err != nil {
				res = result{broken: "undecodable base64"}
			} else {
				res.data = data
			}
		}
		results = append(results, res)
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
				warnings = append(warnings, fmt.Sprintf("image %d of %d dropped: %d bytes labelled %q are not an image", i+1, len(results), len(r.data), r.mimeType))
				continue
			}
			if r.mimeType != "" && !strings.EqualFold(r.mimeType, sniffed) {
				warnings = append(warnings, fmt.Sprintf("image %d labelled %s is %s", i+1, r.mimeType, sniffed))
			}
			out.Images = append(out.Images, provider.Image{Data: r.data, MIMEType: sniffed, RevisedPrompt: r.revised})
		case r.filtered != "":
			reasons = append(reasons, r.filtered)
			warnings = append(warnings, fmt.Sprintf("image %d of %d filtered: %s", i+1, len(results), googleerr.Truncate(r.filtered, 300)))
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
			e.Message = strings.Join(warnings, "; ")
		case len(reasons) > 0:
			e.Message = fmt.Sprintf("all %d images filtered: %s", len(results), googleerr.Truncate(reasons[0], 300))
		case dropped > 0:
			e.Kind, e.Code = provider.KindNoImage, "NO_IMAGE"
			e.Message = strings.Join(warnings, "; ")
		default:
			e.Message = "no image returned: the safety filters removed every prediction"
		}
		return nil, e
	}
	out.Usage.Images = len(out.Images)
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
	// genai's converters read the config; build a fresh one per call.
	resp, err := client.Models.GenerateImages(ctx, p.model, p.prompt, p.vertexConfig())
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
