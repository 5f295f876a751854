package providertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The three services' handlers, in their own words (see tasks.go).

// setupTask is called on a new task, under the lock, before any other
// request can see it.
type setupTask func(t *emuTask)

// create registers a task and applies setup to it.
func (s *Server) create(service, prefix, model string, body []byte, input map[string]any, n int, f Fault, setup setupTask) *emuTask {
	t := s.newTask(service, prefix, model, body, input, n, f)
	s.tasks.mu.Lock()
	if setup != nil {
		setup(t)
	}
	hasCallback := t.callback != ""
	s.tasks.mu.Unlock()
	if hasCallback {
		s.watchCallbacks()
	}
	return t
}

// phaseOf reads a task's phase under the lock.
func (s *Server) phaseOf(t *emuTask, now time.Time) int {
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	return t.phase(now)
}

// overLimit applies Options.Tasks.ServiceLimits to one kind of event.
func (s *Server) overLimit(kind string, n int, per time.Duration) time.Duration {
	if !s.opts.Tasks.ServiceLimits {
		return 0
	}
	now := s.now()
	te := &s.tasks
	te.mu.Lock()
	defer te.mu.Unlock()
	if kind == "read" {
		return limitTasks(&te.reads, now, n, per)
	}
	return limitTasks(&te.creates, now, n, per)
}

// refList reads a list of reference links.
func refList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func isHTTP(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// Kie.ai's reference fields and limits, per model (docs.kie.ai Market
// pages, mirrored; see research).
var kieRefLimits = map[string]struct {
	field    string
	max      int
	required bool
}{
	"nano-banana-pro":            {"image_input", 8, false},
	"nano-banana-2":              {"image_input", 14, false},
	"gpt-image-2-image-to-image": {"input_urls", 16, true},
	"flux-2/pro-image-to-image":  {"input_urls", 8, true},
	"google/nano-banana-edit":    {"image_urls", 10, true},
}

// kieCredits is what a Kie task costs in credits (third-party snapshots
// of kie.ai/pricing, 2026).
func kieCredits(model, resolution string) int {
	tier := map[string]int{"1K": 0, "2K": 1, "4K": 2}[strings.ToUpper(resolution)]
	switch model {
	case "nano-banana-pro":
		return [...]int{18, 18, 24}[tier]
	case "nano-banana-2":
		return [...]int{8, 12, 18}[tier]
	case "gpt-image-2-text-to-image", "gpt-image-2-image-to-image":
		return [...]int{6, 10, 16}[tier]
	case "flux-2/pro-text-to-image", "flux-2/pro-image-to-image":
		return [...]int{5, 7, 7}[tier]
	}
	return 4
}

func str2(m map[string]any, k string) string { v, _ := m[k].(string); return v }

var ratioRE = regexp.MustCompile(`^\d{1,3}:\d{1,3}$`)

func (s *Server) kieCreate(w http.ResponseWriter, c *call) {
	var body struct {
		Model       string         `json:"model"`
		CallBackURL string         `json:"callBackUrl"`
		Input       map[string]any `json:"input"`
	}
	if json.Unmarshal(c.body, &body) != nil {
		s.kieError(w, 422, "Validation Error - the request body is not valid JSON")
		return
	}
	switch {
	case body.Model == "":
		s.kieError(w, 422, "Validation Error - model is required")
		return
	case str2(body.Input, "prompt") == "":
		s.kieError(w, 422, "Validation Error - input.prompt is required")
		return
	case c.f.Kind == KindPromptBlocked:
		s.kieError(w, 422, "Validation Error - the prompt violates the content policy ("+c.f.Reason+")")
		return
	}
	for _, field := range []string{"image_input", "input_urls", "image_urls"} {
		v, present := body.Input[field]
		if !present {
			continue
		}
		urls, ok := refList(v)
		if !ok {
			s.kieError(w, 422, "Validation Error - "+field+" must be a list of file URLs")
			return
		}
		for _, u := range urls {
			if !isHTTP(u) {
				s.kieError(w, 422, "Validation Error - "+field+" takes URLs of uploaded files, not file content")
				return
			}
		}
		if l, ok := kieRefLimits[body.Model]; ok && l.field == field && len(urls) > l.max {
			s.kieError(w, 422, "Validation Error - "+field+": at most "+strconv.Itoa(l.max)+" images")
			return
		}
	}
	if l, ok := kieRefLimits[body.Model]; ok && l.required && body.Input[l.field] == nil {
		s.kieError(w, 422, "Validation Error - input."+l.field+" is required")
		return
	}
	if d := s.overLimit("create", 20, 10*time.Second); d > 0 {
		s.kieError(w, 429, "Rate Limited - up to 20 new generation requests per 10 seconds")
		return
	}
	t := s.create("kie", "task_", body.Model, c.body, body.Input, 1, c.f, func(t *emuTask) {
		t.callback = body.CallBackURL
		t.format = "png"
		if f := str2(body.Input, "output_format"); f == "jpg" || f == "jpeg" {
			t.format = "jpeg"
		}
		if r := str2(body.Input, "aspect_ratio"); ratioRE.MatchString(r) {
			t.ratio = r
		}
		t.size = str2(body.Input, "resolution")
	})
	if s.loseAnswer(w, EndpointKieCreate) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "msg": "success", "data": map[string]any{"taskId": t.id, "recordId": t.id}})
}

// kieData is a task's recordInfo data (and a callback's).
func (s *Server) kieData(t *emuTask, now time.Time) map[string]any {
	s.tasks.mu.Lock()
	ph := t.phase(now)
	word := s.tasks.word(t, now)
	end := t.created.Add(t.duration)
	if !t.canceled.IsZero() && t.canceled.Before(end) {
		end = t.canceled
	}
	failed, code, msg := t.failed()
	s.tasks.mu.Unlock()
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }
	data := map[string]any{"taskId": t.id, "model": t.model, "state": word, "param": string(t.body),
		"resultJson": "", "failCode": "", "failMsg": "", "costTime": 0, "completeTime": nil,
		"createTime": ms(t.created), "updateTime": ms(now), "progress": 0}
	if ph < 3 {
		return data
	}
	data["completeTime"], data["updateTime"] = ms(end), ms(end)
	data["costTime"] = end.Sub(t.created).Milliseconds()
	switch {
	case failed:
		data["failCode"], data["failMsg"], data["resultJson"] = code, msg, nil
	case ph >= 4:
		data["failCode"], data["failMsg"], data["resultJson"] = "500", "Task cancelled", nil
	default:
		urls := s.results(t)
		if urls == nil {
			urls = []string{}
		}
		rj, _ := json.Marshal(map[string]any{"resultUrls": urls})
		data["resultJson"] = string(rj)
		data["creditsConsumed"] = kieCredits(t.model, t.size)
	}
	return data
}

func (s *Server) kieRecord(w http.ResponseWriter, c *call) {
	if c.rt.task == "" {
		s.kieError(w, 400, "taskId parameter is required")
		return
	}
	if d := s.overLimit("read", 10, time.Second); d > 0 {
		s.kieError(w, 429, "Rate limit exceeded")
		return
	}
	t := s.taskByID("kie", c.rt.task, true)
	if t == nil {
		s.kieError(w, 422, "recordInfo is null")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "msg": "success", "data": s.kieData(t, s.now())})
}

// uploadedFile reads the file part named field of a multipart body, and
// its text fields.
func uploadedFile(c *call, field string) (name, ctype string, data []byte, fields map[string]string, ok bool) {
	_, params, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return "", "", nil, nil, false
	}
	fields = map[string]string{}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		switch {
		case p.FormName() == field && p.FileName() != "":
			name, ctype, data, ok = p.FileName(), p.Header.Get("Content-Type"), b, true
		case p.FileName() == "":
			fields[p.FormName()] = string(b)
		}
	}
	return name, ctype, data, fields, ok
}

func (s *Server) kieUpload(w http.ResponseWriter, c *call) {
	var name, path string
	var data []byte
	if strings.HasSuffix(c.r.URL.Path, "/api/file-base64-upload") {
		var body struct {
			Base64Data string `json:"base64Data"`
			UploadPath string `json:"uploadPath"`
			FileName   string `json:"fileName"`
		}
		if json.Unmarshal(c.body, &body) != nil {
			s.kieError(w, 400, "invalid request body")
			return
		}
		raw := body.Base64Data
		if i := strings.Index(raw, ","); strings.HasPrefix(raw, "data:") && i > 0 {
			raw = raw[i+1:]
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			s.kieError(w, 400, "base64Data is not valid base64")
			return
		}
		name, path, data = body.FileName, body.UploadPath, b
	} else {
		fname, _, b, fields, ok := uploadedFile(c, "file")
		if !ok {
			s.kieError(w, 400, "file is required")
			return
		}
		name, path, data = fname, fields["uploadPath"], b
		if fields["fileName"] != "" {
			name = fields["fileName"]
		}
	}
	if path == "" || strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") {
		s.kieError(w, 400, "uploadPath is required, without a leading or trailing slash")
		return
	}
	mt := http.DetectContentType(data)
	if !strings.HasPrefix(mt, "image/") {
		s.kieError(w, 400, "unsupported file type "+mt)
		return
	}
	now := s.now()
	u := s.storeTaskFile("kie", data, mt, now.Add(24*time.Hour))
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "code": 200, "msg": "File uploaded successfully",
		"data": map[string]any{"fileName": name, "filePath": path + "/" + name, "downloadUrl": u, "fileSize": len(data),
			"mimeType": mt, "uploadedAt": now.UTC().Format(time.RFC3339Nano)}})
}

func (s *Server) kieDownloadURL(w http.ResponseWriter, c *call) {
	var body struct {
		URL string `json:"url"`
	}
	_ = json.Unmarshal(c.body, &body)
	if !strings.HasPrefix(body.URL, s.url+"/kie/files/") {
		s.kieError(w, 422, "Only files generated by Kie.ai can be converted")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "msg": "success", "data": body.URL})
}

// replicate

var (
	preferRE      = regexp.MustCompile(`^wait(=([1-9]|[1-9][0-9]|60))?$`)
	replVersionRE = regexp.MustCompile(`^(?:([^/:]+/[^/:]+):)?([0-9a-f]{64})$`)
)

// parseCancelAfter reads Replicate's Cancel-After: "30s", "5m",
// "1h30m45s" or bare seconds.
func parseCancelAfter(v string) (time.Duration, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, n > 0
	}
	d, err := time.ParseDuration(v)
	return d, err == nil && d > 0
}

func (s *Server) replicateCreate(w http.ResponseWriter, c *call) {
	var body map[string]json.RawMessage
	if json.Unmarshal(c.body, &body) != nil {
		replicateProblem(w, 400, "Bad request", "The request body is not valid JSON.", nil)
		return
	}
	for k := range body {
		switch k {
		case "input", "webhook", "webhook_events_filter", "stream", "version":
		default:
			replicateProblem(w, 422, "Input validation failed", "- (root): Additional property "+k+" is not allowed\n", nil)
			return
		}
	}
	var input map[string]any
	_ = json.Unmarshal(body["input"], &input)
	if str2(input, "prompt") == "" {
		replicateProblem(w, 422, "Input validation failed", "- input: prompt is required\n",
			map[string]any{"invalid_fields": []any{map[string]any{"type": "required", "field": "input", "description": "prompt is required"}}})
		return
	}
	model, version := c.rt.model, "hidden"
	if model == "" {
		var v string
		_ = json.Unmarshal(body["version"], &v)
		m := replVersionRE.FindStringSubmatch(v)
		if m == nil {
			replicateProblem(w, 422, "Invalid version or not permitted", "The specified version does not exist (or perhaps you don't have permission to use it?)", nil)
			return
		}
		model, version = m[1], m[2]
		if model == "" {
			model = "unknown/model"
		}
	}
	wait := time.Duration(0)
	if p := c.r.Header.Get("Prefer"); p != "" {
		m := preferRE.FindStringSubmatch(p)
		if m == nil {
			replicateProblem(w, 422, "Invalid Prefer header", "Prefer must be wait or wait=N with N from 1 to 60", nil)
			return
		}
		wait = 60 * time.Second
		if m[2] != "" {
			n, _ := strconv.Atoi(m[2])
			wait = time.Duration(n) * time.Second
		}
	}
	var cancelAfter time.Duration
	if v := c.r.Header.Get("Cancel-After"); v != "" {
		d, ok := parseCancelAfter(v)
		if !ok || d < 5*time.Second {
			replicateProblem(w, 422, "Invalid Cancel-After header", "Cancel-After must be a duration of at least 5s", nil)
			return
		}
		cancelAfter = d
	}
	if c.f.Kind == KindPromptBlocked {
		replicateProblem(w, 422, "Input validation failed", "The input or output was flagged as sensitive. Please try again with different inputs. (E005)", nil)
		return
	}
	if d := s.overLimit("create", 600, time.Minute); d > 0 {
		secs := int(d.Seconds()) + 1
		replicateProblem(w, 429, "Request was throttled", "Request was throttled. Your rate limit resets in ~"+strconv.Itoa(secs)+"s.",
			map[string]any{"retry_after": secs})
		return
	}
	n := 1
	if v, ok := input["num_outputs"].(float64); ok && v >= 1 && v <= 4 {
		n = int(v)
	}
	var webhook string
	_ = json.Unmarshal(body["webhook"], &webhook)
	t := s.create("replicate", "", model, c.body, input, n, c.f, func(t *emuTask) {
		t.callback = webhook
		t.format = "png"
		if f := str2(input, "output_format"); f == "jpg" || f == "jpeg" {
			t.format = "jpeg"
		}
		if r := str2(input, "aspect_ratio"); ratioRE.MatchString(r) {
			t.ratio = r
		}
		t.size = version // kept for the prediction's version field
		if cancelAfter > 0 {
			t.deadline = t.created.Add(cancelAfter)
		}
	})
	if s.loseAnswer(w, EndpointReplicateCreate) {
		return
	}
	status := http.StatusCreated
	if wait > 0 {
		s.tasks.mu.Lock()
		left := t.created.Add(t.duration).Sub(s.now())
		if t.outcome.never || left > wait {
			left = wait
		}
		if !t.deadline.IsZero() {
			left = min(left, t.deadline.Sub(s.now())+time.Millisecond)
		}
		s.tasks.mu.Unlock()
		if !s.sleepClock(c.r.Context(), left) {
			return
		}
		if s.phaseOf(t, s.now()) < 3 {
			status = http.StatusAccepted
			w.Header().Set("Location", s.ReplicateURL()+"/v1/predictions/"+t.id)
		}
	}
	writeJSON(w, status, s.prediction(t, s.now()))
}

// prediction is Replicate's prediction object for a task.
func (s *Server) prediction(t *emuTask, now time.Time) map[string]any {
	s.tasks.mu.Lock()
	ph := t.phase(now)
	word := s.tasks.word(t, now)
	end := t.created.Add(t.duration)
	if !t.canceled.IsZero() && t.canceled.Before(end) {
		end = t.canceled
	}
	if !t.deadline.IsZero() && ph >= 4 && t.deadline.Before(end) {
		end = t.deadline
	}
	failed, _, msg := t.failed()
	deadline, version, n := t.deadline, t.size, t.n
	s.tasks.mu.Unlock()
	rfc := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339Nano) }
	base := s.ReplicateURL() + "/v1/predictions/" + t.id
	p := map[string]any{"id": t.id, "model": t.model, "version": version, "input": t.input, "logs": "", "output": nil,
		"error": nil, "status": word, "created_at": rfc(t.created), "data_removed": false, "source": "api",
		"urls":    map[string]any{"get": base, "cancel": base + "/cancel", "web": "https://replicate.com/p/" + t.id},
		"metrics": map[string]any{}}
	if !deadline.IsZero() {
		p["deadline"] = rfc(deadline)
	}
	if ph >= 2 && ph != 5 {
		p["started_at"] = rfc(t.created.Add(t.duration * 3 / 10))
	}
	if ph < 3 {
		return p
	}
	p["completed_at"] = rfc(end)
	predict := end.Sub(t.created.Add(t.duration * 3 / 10)).Seconds()
	metrics := map[string]any{"total_time": end.Sub(t.created).Seconds()}
	if ph != 5 {
		metrics["predict_time"] = max(predict, 0)
	}
	switch {
	case failed && ph == 3:
		p["error"] = msg
	case ph == 3:
		ttl := s.opts.Tasks.ResultTTL
		if ttl <= 0 {
			ttl = time.Hour
		}
		if now.After(end.Add(ttl)) {
			p["data_removed"], p["input"] = true, nil
			break
		}
		urls := s.results(t)
		metrics["image_output_count"] = len(urls)
		if n == 1 && len(urls) == 1 {
			p["output"] = urls[0]
		} else if urls != nil {
			p["output"] = urls
		} else {
			p["output"] = []string{}
		}
	}
	p["metrics"] = metrics
	return p
}

func (s *Server) replicateGet(w http.ResponseWriter, c *call) {
	t := s.taskByID("replicate", c.rt.task, true)
	if t == nil {
		replicateProblem(w, 404, "Not found", "The requested resource could not be found.", nil)
		return
	}
	writeJSON(w, http.StatusOK, s.prediction(t, s.now()))
}

func (s *Server) replicateList(w http.ResponseWriter, c *call) {
	since := time.Time{}
	if v := c.r.URL.Query().Get("created_after"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			replicateProblem(w, 400, "Bad request", "created_after must be an ISO 8601 date-time", nil)
			return
		}
		since = t
	}
	results := []any{}
	now := s.now()
	for _, t := range s.sortedTasks("replicate", since) {
		if len(results) == 100 {
			break
		}
		results = append(results, s.prediction(t, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"next": nil, "previous": nil, "results": results})
}

func (s *Server) replicateCancel(w http.ResponseWriter, c *call) {
	t := s.taskByID("replicate", c.rt.task, false)
	if t == nil {
		replicateProblem(w, 404, "Not found", "The requested resource could not be found.", nil)
		return
	}
	now := s.now()
	s.tasks.mu.Lock()
	if t.phase(now) < 3 {
		t.canceled = now
	}
	s.tasks.mu.Unlock()
	writeJSON(w, http.StatusOK, s.prediction(t, now))
}

func (s *Server) replicateFile(w http.ResponseWriter, c *call) {
	name, ctype, data, _, ok := uploadedFile(c, "content")
	if !ok {
		replicateProblem(w, 400, "Bad request", "The content field is required.", nil)
		return
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	now := s.now()
	u := s.storeTaskFile("replicate", data, http.DetectContentType(data), now.Add(time.Hour))
	sum := sha256.Sum256(data)
	id := strings.TrimSuffix(u[strings.LastIndex(u, "/")+1:], ".png")
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "name": name, "content_type": ctype, "size": len(data),
		"checksums": map[string]any{"sha256": hex.EncodeToString(sum[:])}, "metadata": map[string]any{},
		"created_at": now.UTC().Format(time.RFC3339Nano), "expires_at": now.Add(time.Hour).UTC().Format(time.RFC3339Nano),
		"urls": map[string]any{"get": u}})
}

// apimart

// apimartPrice is what one image costs (a promotional wiki, 2026-10).
func apimartPrice(model, resolution string) float64 {
	if strings.HasPrefix(model, "gemini-3-pro-image") {
		if strings.EqualFold(resolution, "4K") {
			return 0.04
		}
		return 0.03
	}
	return 0.02
}

func (s *Server) apimartCreate(w http.ResponseWriter, c *call) {
	var body map[string]any
	if json.Unmarshal(c.body, &body) != nil {
		apimartError(w, 400, "The request body is not valid JSON", "invalid_request_error", "invalid_json")
		return
	}
	model := str2(body, "model")
	switch {
	case model == "":
		apimartError(w, 400, "model is required", "invalid_request_error", "missing_model")
		return
	case str2(body, "prompt") == "":
		apimartError(w, 400, "prompt is required", "invalid_request_error", "missing_prompt")
		return
	case c.f.Kind == KindPromptBlocked:
		apimartError(w, 400, "Your request was rejected as a result of our safety system", "invalid_request_error", "content_policy_violation")
		return
	}
	n := 1
	if v, ok := body["n"].(float64); ok {
		n = int(v)
	}
	maxN := 4
	if model == "gpt-image-2" {
		maxN = 1
	}
	if n < 1 || n > maxN {
		apimartError(w, 400, "n must be between 1 and "+strconv.Itoa(maxN), "invalid_request_error", "invalid_n")
		return
	}
	if v, present := body["image_urls"]; present {
		urls, ok := refList(v)
		if !ok || len(urls) > 14 {
			apimartError(w, 400, "image_urls must be a list of at most 14 URLs", "invalid_request_error", "invalid_image_urls")
			return
		}
	}
	key := c.r.Header.Get("Idempotency-Key")
	sum := sha256.Sum256(c.body)
	hash := hex.EncodeToString(sum[:])
	legacy := c.r.Header.Get("X-Apimart-Response-Version") == ""
	if key != "" {
		s.tasks.mu.Lock()
		s.tasks.init(s.opts.Seed)
		e, seen := s.tasks.idem[key]
		s.tasks.mu.Unlock()
		if seen {
			if e.hash != hash {
				apimartError(w, 409, "Idempotency-Key was already used with a different request", "invalid_request_error", "idempotency_key_reused")
				return
			}
			if t := s.taskByID("apimart", e.id, false); t != nil {
				w.Header().Set("Idempotency-Replayed", "true")
				s.apimartSubmitted(w, t, legacy)
				return
			}
		}
	}
	t := s.create("apimart", "task_", model, c.body, body, n, c.f, func(t *emuTask) {
		t.legacy = legacy
		if r := str2(body, "size"); ratioRE.MatchString(r) {
			t.ratio = r
		}
		t.size = str2(body, "resolution")
		t.format = "png"
	})
	if key != "" {
		s.tasks.mu.Lock()
		s.tasks.idem[key] = idemEntry{id: t.id, hash: hash}
		s.tasks.mu.Unlock()
	}
	if s.loseAnswer(w, EndpointAPIMartCreate) {
		return
	}
	s.apimartSubmitted(w, t, legacy)
}

func (s *Server) apimartSubmitted(w http.ResponseWriter, t *emuTask, legacy bool) {
	if legacy {
		writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": []any{map[string]any{"status": "submitted", "task_id": t.id}}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": map[string]any{"id": t.id, "object": "image.generation.task",
		"status": "pending", "progress": 0, "created": t.created.Unix(), "model": t.model, "type": "image",
		"task_info": map[string]any{"can_cancel": false, "estimated_time": int(t.duration.Seconds() + 0.5)}}})
}

func (s *Server) apimartTask(w http.ResponseWriter, c *call) {
	t := s.taskByID("apimart", c.rt.task, true)
	if t == nil {
		apimartError(w, 404, "task not found", "invalid_request_error", "task_not_found")
		return
	}
	now := s.now()
	s.tasks.mu.Lock()
	ph := t.phase(now)
	word := s.tasks.word(t, now)
	failed, code, msg := t.failed()
	legacy, n := t.legacy, t.n
	s.tasks.mu.Unlock()
	end := t.created.Add(t.duration)
	progress := 0
	if ph == 2 {
		progress = int(100 * now.Sub(t.created.Add(t.duration*3/10)) / (t.duration * 7 / 10))
	}
	data := map[string]any{"id": t.id, "status": word, "progress": progress, "created": t.created.Unix(),
		"estimated_time": int(t.duration.Seconds() + 0.5)}
	if ph >= 3 {
		data["completed"], data["actual_time"] = end.Unix(), int(t.duration.Seconds()+0.5)
		switch {
		case failed:
			data["error"] = map[string]any{"code": code, "message": msg, "type": "generation_error"}
		case ph == 3:
			data["progress"] = 100
			ttl := s.opts.Tasks.ResultTTL
			if ttl <= 0 {
				ttl = 24 * time.Hour
			}
			images := []any{}
			for _, u := range s.results(t) {
				var url any = []string{u}
				if legacy {
					url = u
				}
				images = append(images, map[string]any{"url": url, "expires_at": end.Add(ttl).Unix()})
			}
			data["result"] = map[string]any{"images": images}
			cost := apimartPrice(t.model, t.size) * float64(n)
			data["cost"], data["credits_cost"] = cost, cost*100
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "data": data})
}

func (s *Server) apimartUpload(w http.ResponseWriter, c *call) {
	name, _, data, _, ok := uploadedFile(c, "file")
	if !ok {
		apimartError(w, 400, "file is required", "invalid_request_error", "missing_file")
		return
	}
	mt := http.DetectContentType(data)
	if !strings.HasPrefix(mt, "image/") {
		apimartError(w, 400, "only JPEG, PNG, GIF and WebP images are accepted", "invalid_request_error", "invalid_file_type")
		return
	}
	now := s.now()
	u := s.storeTaskFile("apimart", data, mt, now.Add(72*time.Hour))
	writeJSON(w, http.StatusOK, map[string]any{"url": u, "filename": name, "content_type": mt, "bytes": len(data),
		"created_at": now.Unix()})
}
