package providertest

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// ControlPrefix is where the control endpoint lives when Options.Control
// is set. No provider uses a path that starts with an underscore, so it
// cannot shadow an emulated API.
//
// The control endpoint lets a test in any language drive the emulator
// over HTTP, with JSON in and out (Options.Control; `imagegen emulator`
// enables it on loopback). Routes, under ControlPrefix:
//
//	GET    health                  {"ok": true, "url": "http://127.0.0.1:8080"}
//	GET    endpoints               {"endpoints": [...], "faultKinds": [...]}
//	POST   faults                  a FaultRule, or a list of them: inject
//	DELETE faults                  clear every scripted and random fault
//	GET    requests[?endpoint=E][&body=1]
//	                               {"requests": [...]}: recorded requests, secrets
//	                               redacted; body=1 adds each raw body in base64
//	DELETE requests                forget the recorded requests
//	GET    stats                   {"total", "perEndpoint", "rateLimited", "faulted", "streams"}
//	POST   reset                   back to the state when started (Server.Reset)
//	GET    clock                   {"now": RFC 3339}
//	POST   clock                   {"advance": "1h"} or {"now": RFC 3339}: move the clock
//	GET    settings                {"latency", "chatShape", "requestsPerMinute", "requestsPerDay",
//	                               "streamInterval", "streamMode"}
//	POST   settings                the same fields, each optional: change them
//	POST   batches/{id}:expire     force a batch job into BATCH_STATE_EXPIRED
//	GET    files/{id}              a Files API file's bytes
//
// Errors are {"error": "message"} with status 400, 401 (ControlToken set
// and not presented), 404 or 405.
const ControlPrefix = "/_emulator/"

// serveControl serves the routes ControlPrefix lists.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	if s.opts.ControlToken != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.ControlToken)) != 1 {
			controlError(w, http.StatusUnauthorized, "the control endpoint needs Authorization: Bearer <control token>")
			return
		}
	}
	path := strings.TrimPrefix(r.URL.Path, ControlPrefix)
	method := func(want ...string) bool {
		for _, m := range want {
			if r.Method == m {
				return true
			}
		}
		w.Header().Set("Allow", strings.Join(want, ", "))
		controlError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": want "+strings.Join(want, " or "))
		return false
	}
	switch {
	case path == "health":
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": s.url})
		}
	case path == "endpoints":
		if method(http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"endpoints": Endpoints(), "faultKinds": FaultKinds()})
		}
	case path == "faults":
		if !method(http.MethodPost, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			s.ClearFaults()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
			return
		}
		s.controlFaults(w, r)
	case path == "requests":
		if !method(http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			s.ResetRequests()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
			return
		}
		q := r.URL.Query()
		out := []controlRequest{}
		for _, rec := range s.Requests() {
			if ep := q.Get("endpoint"); ep != "" && string(rec.Endpoint) != ep {
				continue
			}
			out = append(out, toControlRequest(rec, q.Get("body") == "1" || q.Get("body") == "true"))
		}
		writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	case path == "stats":
		if method(http.MethodGet) {
			st := s.Stats()
			writeJSON(w, http.StatusOK, map[string]any{"total": st.Total, "perEndpoint": st.PerEndpoint,
				"rateLimited": st.RateLimited, "faulted": st.Faulted, "streams": st.Streams})
		}
	case path == "reset":
		if method(http.MethodPost) {
			s.Reset()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		}
	case path == "clock":
		if !method(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost {
			var req struct {
				Advance *jsonDuration `json:"advance"`
				Now     *time.Time    `json:"now"`
			}
			if !decodeControl(w, r, &req) {
				return
			}
			switch {
			case req.Advance != nil && req.Now != nil:
				controlError(w, http.StatusBadRequest, "give \"advance\" or \"now\", not both")
				return
			case req.Advance != nil:
				s.AdvanceClock(time.Duration(*req.Advance))
			case req.Now != nil:
				s.AdvanceClock(req.Now.Sub(s.now()))
			default:
				controlError(w, http.StatusBadRequest, "want {\"advance\": \"1h\"} or {\"now\": \"2026-12-04T10:00:00Z\"}")
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"now": s.now().UTC().Format(time.RFC3339Nano)})
	case path == "settings":
		if !method(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodPost && !s.controlSettings(w, r) {
			return
		}
		s.mu.Lock()
		shape, rpm, rpd, mode := s.chatShape, s.rpm, s.rpd, s.streamMode
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"latency":   time.Duration(s.latency.Load()).String(),
			"chatShape": shape.String(), "requestsPerMinute": rpm, "requestsPerDay": rpd,
			"streamInterval": time.Duration(s.streamInterval.Load()).String(), "streamMode": mode.String(),
		})
	case strings.HasPrefix(path, "batches/") && strings.HasSuffix(path, ":expire"):
		if method(http.MethodPost) {
			id := strings.TrimSuffix(strings.TrimPrefix(path, "batches/"), ":expire")
			if !s.ExpireBatch(id) {
				controlError(w, http.StatusNotFound, "no batch job batches/"+id)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		}
	case strings.HasPrefix(path, "files/"):
		if method(http.MethodGet) {
			b, ok := s.File(strings.TrimPrefix(path, "files/"))
			if !ok {
				controlError(w, http.StatusNotFound, "no file "+path)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(b)
		}
	default:
		controlError(w, http.StatusNotFound, "no control route "+r.URL.Path+"; see GET "+ControlPrefix+"endpoints and the providertest docs")
	}
}

// controlFaults injects a FaultRule or a list of them; nothing is injected
// unless every rule is valid.
func (s *Server) controlFaults(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	var rules []FaultRule
	if trimmed := strings.TrimSpace(string(b)); strings.HasPrefix(trimmed, "[") {
		err = json.Unmarshal(b, &rules)
	} else {
		var one FaultRule
		err = json.Unmarshal(b, &one)
		rules = []FaultRule{one}
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, rule := range rules {
		if err := rule.check(); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	for _, rule := range rules {
		_ = rule.Apply(s)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// controlSettings applies POST settings; false when it answered an error.
func (s *Server) controlSettings(w http.ResponseWriter, r *http.Request) bool {
	var req struct {
		Latency           *jsonDuration `json:"latency"`
		ChatShape         *string       `json:"chatShape"`
		RequestsPerMinute *int          `json:"requestsPerMinute"`
		RequestsPerDay    *int          `json:"requestsPerDay"`
		StreamInterval    *jsonDuration `json:"streamInterval"`
		StreamMode        *string       `json:"streamMode"`
	}
	if !decodeControl(w, r, &req) {
		return false
	}
	var shape ChatShape
	if req.ChatShape != nil {
		var err error
		if shape, err = ParseChatShape(*req.ChatShape); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return false
		}
	}
	var mode StreamMode
	if req.StreamMode != nil {
		var err error
		if mode, err = ParseStreamMode(*req.StreamMode); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return false
		}
	}
	if (req.RequestsPerMinute != nil && *req.RequestsPerMinute < 0) || (req.RequestsPerDay != nil && *req.RequestsPerDay < 0) ||
		(req.Latency != nil && *req.Latency < 0) || (req.StreamInterval != nil && *req.StreamInterval < 0) {
		controlError(w, http.StatusBadRequest, "latency, stream interval and limits must not be negative")
		return false
	}
	if req.StreamInterval != nil {
		s.SetStreamInterval(time.Duration(*req.StreamInterval))
	}
	if req.StreamMode != nil {
		s.SetStreamMode(mode)
	}
	if req.Latency != nil {
		s.SetLatency(time.Duration(*req.Latency))
	}
	if req.ChatShape != nil {
		s.SetChatShape(shape)
	}
	s.mu.Lock()
	if req.RequestsPerMinute != nil {
		s.rpm = *req.RequestsPerMinute
	}
	if req.RequestsPerDay != nil {
		s.rpd = *req.RequestsPerDay
	}
	s.mu.Unlock()
	return true
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		controlError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": msg})
}

// controlRequest is a recorded Request as the control endpoint lists it.
type controlRequest struct {
	Method    string                   `json:"method"`
	Path      string                   `json:"path"`
	RawQuery  string                   `json:"rawQuery,omitempty"`
	Header    http.Header              `json:"header"`
	JSON      map[string]any           `json:"json,omitempty"`
	Form      map[string][]string      `json:"form,omitempty"`
	Files     map[string][]controlFile `json:"files,omitempty"`
	Endpoint  Endpoint                 `json:"endpoint"`
	Model     string                   `json:"model,omitempty"`
	Time      string                   `json:"time"`
	RequestID string                   `json:"requestId,omitempty"`
	BodySize  int                      `json:"bodySize"`
	Body      string                   `json:"body,omitempty"` // base64, with ?body=1
}

type controlFile struct {
	FileName    string `json:"fileName"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
	SHA256      string `json:"sha256"`
}

func toControlRequest(r Request, withBody bool) controlRequest {
	c := controlRequest{Method: r.Method, Path: r.Path, RawQuery: r.RawQuery, Header: r.Header, JSON: r.JSON,
		Form: r.Form, Endpoint: r.Endpoint, Model: r.Model, Time: r.Time.UTC().Format(time.RFC3339Nano),
		RequestID: r.RequestID, BodySize: len(r.Body)}
	if len(r.Files) > 0 {
		c.Files = map[string][]controlFile{}
		names := make([]string, 0, len(r.Files))
		for k := range r.Files {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			for _, f := range r.Files[k] {
				c.Files[k] = append(c.Files[k], controlFile{FileName: f.FileName, ContentType: f.ContentType, Size: f.Size, SHA256: f.SHA256})
			}
		}
	}
	if withBody {
		c.Body = base64.StdEncoding.EncodeToString(r.Body)
	}
	return c
}
