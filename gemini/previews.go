package gemini

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/capture"
	"github.com/imagegen-go/imagegen/internal/fanin"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/fanout"
)

// thinks reports whether model thinks, and so sends its draft images only
// when asked for its thoughts (thinkingConfig.includeThoughts). Gemini 3
// image models think whatever they are told; 2.5 Flash Image does not,
// and may refuse a thinking config.
func thinks(model string, info *catalog.Model) bool {
	return (info != nil && len(info.ThinkingLevels) > 0) || strings.HasPrefix(model, "gemini-3")
}

// generateStreaming is Generate for a request with provider.Previews: each
// call streams (streamGenerateContent) and its drafts reach pv.On on this
// goroutine, in the order they arrive, before Generate returns.
func (g *Generator) generateStreaming(ctx context.Context, p plan, req *provider.Request, pv provider.Previews) (*provider.Response, error) {
	index := 0
	deliver := func(img provider.Image) {
		pv.On(provider.Preview{Index: index, Image: img, Provider: g.name})
		index++
	}
	call := func(draft func(provider.Image)) func(context.Context) (*provider.Response, error) {
		return func(ctx context.Context) (*provider.Response, error) {
			r := g.callStream(ctx, p, req, draft)
			if r.resp != nil {
				r.resp.Attempts = r.calls
			}
			return r.resp, r.err
		}
	}
	var results []fanout.Result
	if n := req.Count(); n == 1 {
		results = fanin.Repeat(ctx, 1, 1, call(deliver))
	} else {
		// N images are N concurrent streams; their drafts come back here,
		// where On is called.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // should On panic, the streams stop waiting for it
		drafts := make(chan provider.Image)
		done := make(chan struct{})
		go func() {
			defer close(done)
			results = fanin.Repeat(ctx, n, g.parallel, call(func(img provider.Image) {
				select {
				case drafts <- img:
				case <-ctx.Done():
				}
			}))
		}()
	pump:
		for {
			select {
			case img := <-drafts:
				deliver(img)
			case <-done:
				break pump
			}
		}
	}
	return fanin.Merge(&provider.Response{Provider: g.name, Model: p.model, Warnings: p.warnings}, results)
}

// streamFilter wraps a successful streamGenerateContent body in a reducer
// (see sseReducer), which it stores in *red.
func (g *Generator) streamFilter(red **sseReducer) func(*http.Response) error {
	return func(resp *http.Response) error {
		if resp.Request != nil && !strings.HasSuffix(resp.Request.URL.Path, ":streamGenerateContent") {
			return nil
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil // genai reads the error envelope
		}
		r := newSSEReducer(resp.Body, answer.JSONCap(g.maxResponse))
		*red = r
		resp.Body = r
		return nil
	}
}

// userPanic carries a panic raised by the caller's On out of genai's
// stream, so that it is raised again, not turned into an error.
type userPanic struct{ value any }

// callStream makes one streamGenerateContent call, passes each draft
// (a thought part with an image) to draft as it arrives, and returns the
// final answer as call does: the answer is the stream's chunks merged, so
// parseWire judges it exactly as a generateContent answer.
func (g *Generator) callStream(ctx context.Context, p plan, req *provider.Request, draft func(provider.Image)) callResult {
	model := p.model
	contents := []*genai.Content{userTurn(req)}
	ctx, rec := capture.WithRecord(ctx)
	var red *sseReducer
	rec.SetFilter(g.streamFilter(&red))
	cfg := g.config(req, p.info) // AutomaticContinuation off: each hop is billed
	if thinks(model, p.info) {
		// Drafts are thought parts: without this, none are sent.
		if cfg.ThinkingConfig == nil {
			cfg.ThinkingConfig = &genai.ThinkingConfig{}
		}
		cfg.ThinkingConfig.IncludeThoughts = true
	}
	acc := &streamAnswer{}
	var (
		streamErr error
		panicked  *userPanic
	)
	onDraft := func(img provider.Image) {
		defer func() {
			if v := recover(); v != nil {
				panicked = &userPanic{v}
			}
		}()
		draft(img)
	}
	_, guardErr := answer.Guard(func() (struct{}, error) {
		for chunk, err := range g.client.Models.GenerateContentStream(ctx, model, contents, cfg) {
			if err != nil {
				streamErr = err
				break
			}
			var w *wire
			if red != nil {
				w = red.take()
			}
			acc.add(chunk, w, onDraft)
			if panicked != nil {
				break
			}
		}
		return struct{}{}, nil
	})
	if panicked != nil {
		panic(panicked.value)
	}
	calls := max(rec.Calls(), 1)
	if streamErr == nil {
		streamErr = guardErr
	}
	if streamErr == nil && red != nil {
		streamErr = red.err
	}
	if streamErr != nil {
		return callResult{err: g.mapError(ctx, model, streamErr, rec), calls: calls}
	}
	if err := ctx.Err(); err != nil {
		return callResult{err: g.mapError(ctx, model, err, rec), calls: calls}
	}
	resp, w := acc.merged()
	if !acc.finished {
		u := w.usage
		e := &provider.Error{Kind: provider.KindUnavailable, Provider: g.name, Model: model, StatusCode: 200, Code: answer.CodeMalformed,
			Message: "truncated stream: it ended before a finishReason"}
		if w.hasUsage {
			e.Usage = &u
		}
		return callResult{err: e, calls: calls}
	}
	out, err := g.parseWire(model, resp, w, req)
	return callResult{resp: out, err: err, calls: calls}
}

// streamAnswer merges the chunks of a stream into one answer: the
// non-thought parts in order (text deltas joined), the last finish reason,
// finish message, prompt feedback and model version, and the last
// usageMetadata (each chunk's is the running total, not a delta).
type streamAnswer struct {
	parts     []*genai.Part
	hasCand   bool
	reason    genai.FinishReason
	finishMsg string
	feedback  *genai.GenerateContentResponsePromptFeedback
	version   string
	w         wire
	finished  bool // a finish reason or a prompt block was seen
}

// add merges chunk, whose fields genai drops are in w (nil when the
// reducer did not run), and passes its drafts to draft.
func (a *streamAnswer) add(chunk *genai.GenerateContentResponse, w *wire, draft func(provider.Image)) {
	if w != nil {
		for _, s := range w.warnings {
			if !slices.Contains(a.w.warnings, s) {
				a.w.warnings = append(a.w.warnings, s)
			}
		}
		if w.hasUsage {
			a.w.usage, a.w.hasUsage = w.usage, true
		}
		if m := w.finishMessage(0); m != "" {
			a.w.finishMessages = []string{m}
		}
		if w.blockReasonMessage != "" {
			a.w.blockReasonMessage = w.blockReasonMessage
		}
	}
	if chunk == nil {
		return
	}
	if w != nil && w.streamed != nil {
		swapBlobs(chunk, w.streamed)
		if w.arena > 0 {
			trimArena(chunk, w.arena)
		}
	}
	if v := chunk.ModelVersion; v != "" {
		a.version = v
	}
	if pf := chunk.PromptFeedback; pf != nil {
		a.feedback = pf
		if pf.BlockReason != "" {
			a.finished = true
		}
	}
	if len(chunk.Candidates) == 0 || chunk.Candidates[0] == nil {
		return
	}
	c := chunk.Candidates[0]
	a.hasCand = true
	if c.FinishReason != "" {
		a.reason, a.finished = c.FinishReason, true
	}
	if c.FinishMessage != "" {
		a.finishMsg = c.FinishMessage
	}
	if c.Content == nil {
		return
	}
	for _, p := range c.Content.Parts {
		if p == nil {
			continue
		}
		if p.Thought {
			if p.InlineData != nil && len(p.InlineData.Data) > 0 {
				img, warn := checkedImage(p.InlineData.Data, p.InlineData.MIMEType)
				if warn != "" && !slices.Contains(a.w.warnings, "draft: "+warn) {
					a.w.warnings = append(a.w.warnings, "draft: "+warn)
				}
				p.InlineData.Data = nil // the caller's now
				if img != nil {
					draft(*img)
				}
			}
			continue
		}
		if p.InlineData == nil && p.Text != "" {
			if w != nil && w.streamed.Contains(p.Text) {
				p.Text = w.streamed.Restore(p.Text) // a relay's data URI in text
			}
			if n := len(a.parts); n > 0 {
				if last := a.parts[n-1]; last.InlineData == nil && last.Text != "" && p.ThoughtSignature == nil {
					last.Text += p.Text // a text delta
					continue
				}
			}
		}
		a.parts = append(a.parts, p)
	}
}

// trimArena copies out the images of a chunk decoded into an arena sized
// by a guess (sseReducer.hint) much larger than they turned out to be, so
// that a small image (final or draft) does not keep a draft-sized array
// alive.
func trimArena(chunk *genai.GenerateContentResponse, arena int64) {
	for _, c := range chunk.Candidates {
		if c == nil || c.Content == nil {
			continue
		}
		for _, p := range c.Content.Parts {
			if p != nil && p.InlineData != nil && int64(len(p.InlineData.Data)) < arena*3/4/2 {
				p.InlineData.Data = bytes.Clone(p.InlineData.Data)
			}
		}
	}
}

// merged returns the merged answer and what was read beside genai.
func (a *streamAnswer) merged() (*genai.GenerateContentResponse, *wire) {
	resp := &genai.GenerateContentResponse{ModelVersion: a.version, PromptFeedback: a.feedback}
	if a.hasCand {
		resp.Candidates = []*genai.Candidate{{
			Content:       &genai.Content{Role: genai.RoleModel, Parts: a.parts},
			FinishReason:  a.reason,
			FinishMessage: a.finishMsg,
		}}
	}
	w := a.w
	w.seen = true
	return resp, &w
}
