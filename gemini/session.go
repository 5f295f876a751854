package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"google.golang.org/genai"

	"github.com/imagegen-go/imagegen/provider"
)

// DefaultKeepTurns is how many earlier exchanges a Session re-sends.
const DefaultKeepTurns = 3

// SessionOptions configures a Session.
type SessionOptions struct {
	// Model overrides the generator's default model for the session.
	Model string
	// KeepTurns is how many earlier exchanges (a user turn and the model's
	// answer) are re-sent with each new turn; older ones, and their images,
	// are dropped so a long session does not grow without bound. 0 means
	// DefaultKeepTurns.
	KeepTurns int
}

// Session is a multi-turn image editing conversation: each turn sees the
// images and text of the turns before it. Earlier model turns are sent back
// with their thought signatures, which Gemini 3 models require. A Session is
// safe for concurrent use, but turns are applied one at a time.
type Session struct {
	g     *Generator
	model string
	keep  int

	mu      sync.Mutex
	history []*genai.Content // user, model, user, model, ...
}

// NewSession starts an empty editing session.
func (g *Generator) NewSession(opts SessionOptions) *Session {
	model := opts.Model
	if model == "" {
		model = g.model
	}
	keep := opts.KeepTurns
	if keep <= 0 {
		keep = DefaultKeepTurns
	}
	return &Session{g: g, model: model, keep: keep}
}

// Model returns the session's model.
func (s *Session) Model() string { return s.model }

// Turns returns how many exchanges the session holds.
func (s *Session) Turns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.history) / 2
}

// Generate sends req as the next user turn (its References are added to the
// turn) and returns the model's answer. req.Model and req.N must be unset or
// match the session: a session produces one image per turn. A failed turn
// leaves the history as it was.
func (s *Session) Generate(ctx context.Context, req *provider.Request) (*provider.Response, error) {
	if req == nil {
		return nil, s.g.invalid(s.model, "Request: nil request")
	}
	if req.Count() > 1 {
		return nil, s.g.invalid(s.model, "N: a session turn makes one image")
	}
	if req.Model != "" && req.Model != s.model {
		return nil, s.g.invalid(s.model, "Model: the session uses %s", s.model)
	}
	r := req.Clone()
	r.Model = s.model
	p, err := s.g.prepare(r)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The whole conversation travels inline: send only as many earlier
	// exchanges as fit in the 20 MB request limit, newest first.
	history := s.history
	for size := requestBytes(r) + contentBytes(history...); size > MaxRequestBytes && len(history) >= 2; {
		size -= contentBytes(history[:2]...)
		history = history[2:]
		p.warnings = append(p.warnings, "an earlier turn was not re-sent: the conversation exceeds the 20 MB request limit")
	}
	res := s.g.call(ctx, p, history, r)
	if res.err != nil {
		return nil, res.err
	}
	resp := res.resp
	resp.Attempts = res.calls
	resp.Warnings = append(p.warnings, resp.Warnings...)
	s.history = append(s.history, userTurn(r), modelTurn(restoreTurn(res.turn, res.streamed)))
	if extra := len(s.history) - 2*s.keep; extra > 0 {
		s.history = append([]*genai.Content(nil), s.history[extra:]...)
	}
	return resp, nil
}

// modelTurn keeps what must be sent back: every non-thought part with its
// thought signature. Thought drafts are interim and are not re-sent.
func modelTurn(c *genai.Content) *genai.Content {
	out := &genai.Content{Role: genai.RoleModel}
	if c == nil {
		return out
	}
	for _, p := range c.Parts {
		if p != nil && !p.Thought {
			out.Parts = append(out.Parts, p)
		}
	}
	return out
}

// SessionState is the serialisable form of a Session, for saving a
// conversation and resuming it later (in another process) with
// Generator.ResumeSession. Image bytes and signatures are base64 in JSON.
type SessionState struct {
	Version   int         `json:"version"`
	Model     string      `json:"model"`
	KeepTurns int         `json:"keep_turns"`
	Turns     []StateTurn `json:"turns"`
}

// StateTurn is one turn of a SessionState.
type StateTurn struct {
	Role  string      `json:"role"` // "user" or "model"
	Parts []StatePart `json:"parts"`
}

// StatePart is one part of a StateTurn: text or an image, with the thought
// signature the model attached to it.
type StatePart struct {
	Text             string `json:"text,omitempty"`
	MIMEType         string `json:"mime_type,omitempty"`
	Data             []byte `json:"data,omitempty"`
	ThoughtSignature []byte `json:"thought_signature,omitempty"`
}

const stateVersion = 1

// State returns a snapshot of the session.
func (s *Session) State() SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SessionState{Version: stateVersion, Model: s.model, KeepTurns: s.keep}
	for _, c := range s.history {
		t := StateTurn{Role: c.Role}
		for _, p := range c.Parts {
			sp := StatePart{Text: p.Text, ThoughtSignature: p.ThoughtSignature}
			if p.InlineData != nil {
				sp.MIMEType, sp.Data = p.InlineData.MIMEType, p.InlineData.Data
			}
			t.Parts = append(t.Parts, sp)
		}
		st.Turns = append(st.Turns, t)
	}
	return st
}

// MarshalJSON encodes the session's State.
func (s *Session) MarshalJSON() ([]byte, error) { return json.Marshal(s.State()) }

// ResumeSession restores a session from a State taken earlier, possibly by
// another process.
func (g *Generator) ResumeSession(st SessionState) (*Session, error) {
	if st.Version != stateVersion {
		return nil, g.invalid(st.Model, "SessionState.Version: %d is not supported (want %d)", st.Version, stateVersion)
	}
	if len(st.Turns)%2 != 0 {
		return nil, g.invalid(st.Model, "SessionState.Turns: %d turns; want user/model pairs", len(st.Turns))
	}
	s := g.NewSession(SessionOptions{Model: st.Model, KeepTurns: st.KeepTurns})
	for i, t := range st.Turns {
		want := genai.RoleUser
		if i%2 == 1 {
			want = genai.RoleModel
		}
		if t.Role != want {
			return nil, g.invalid(st.Model, "SessionState.Turns[%d]: role %q, want %q", i, t.Role, want)
		}
		c := &genai.Content{Role: t.Role}
		for _, p := range t.Parts {
			gp := &genai.Part{Text: p.Text, ThoughtSignature: p.ThoughtSignature}
			if len(p.Data) > 0 {
				gp.InlineData = &genai.Blob{MIMEType: p.MIMEType, Data: p.Data}
			}
			c.Parts = append(c.Parts, gp)
		}
		s.history = append(s.history, c)
	}
	return s, nil
}

// String names the session's model and length, for logs.
func (s *Session) String() string {
	return fmt.Sprintf("gemini.Session(%s, %d turns)", s.model, s.Turns())
}

// contentBytes estimates the JSON size of turns: base64 inflates inline
// images by 4/3.
func contentBytes(turns ...*genai.Content) int {
	n := 0
	for _, c := range turns {
		for _, p := range c.Parts {
			n += len(p.Text) + len(p.ThoughtSignature)*4/3 + 64
			if p.InlineData != nil {
				n += (len(p.InlineData.Data) + 2) / 3 * 4
			}
		}
	}
	return n
}
