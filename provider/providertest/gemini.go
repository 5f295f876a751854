package providertest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"image"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

type gPart struct {
	Text       string `json:"text,omitempty"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData,omitempty"`
	Thought          bool   `json:"thought,omitempty"`
	ThoughtSignature string `json:"thoughtSignature,omitempty"`
}

type gContent struct {
	Role  string  `json:"role"`
	Parts []gPart `json:"parts"`
}

type gRequest struct {
	Contents         []gContent `json:"contents"`
	GenerationConfig struct {
		ResponseModalities []string `json:"responseModalities"`
		ImageConfig        *struct {
			AspectRatio string `json:"aspectRatio"`
			ImageSize   string `json:"imageSize"`
		} `json:"imageConfig"`
		ThinkingConfig map[string]any `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

// gError is a Google error to answer with.
type gError struct {
	code    int
	status  string
	message string
}

func isGemini3(model string) bool {
	return strings.Contains(model, "gemini-3") || strings.Contains(model, "nano-banana")
}

// geminiImageTokens is the output token count of one image.
func geminiImageTokens(model, size string) int {
	switch {
	case strings.Contains(model, "gemini-2.5-flash-image"):
		return 1290
	case strings.Contains(model, "gemini-3-pro-image"):
		if size == "4K" {
			return 2000
		}
		return 1120
	case strings.Contains(model, "gemini-3.1-flash-image"):
		return map[string]int{"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}[size]
	case strings.Contains(model, "nano-banana") || strings.Contains(model, "gemini-3.1-flash-lite-image"):
		if v, ok := map[string]int{"1K": 1120, "2K": 1680, "4K": 3780}[size]; ok {
			return v
		}
		return 1120
	}
	return 1290
}

// geminiInputImageTokens is what one input image is billed: 560 tokens
// on the Gemini 3 image models ("Gemini 3 Pro Image consumes 560 input
// image tokens per input image",
// https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-pro-image,
// checked 2026-12-04; assumed for the other 3.x image models), and on
// Gemini 2.x 258 tokens per 768x768 tile (one tile up to 384 px;
// https://ai.google.dev/gemini-api/docs/image-understanding), 16 tiles
// for an image whose size cannot be read.
func geminiInputImageTokens(model, b64data string) int {
	if isGemini3(model) {
		return 560
	}
	cfg, _, err := image.DecodeConfig(base64.NewDecoder(base64.StdEncoding, strings.NewReader(b64data)))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 16 * 258
	}
	return min(((cfg.Width+767)/768)*((cfg.Height+767)/768), 16) * 258
}

var sizeBase = map[string]int{"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}

// generate builds a generateContent answer. f may carry a content fault.
func (s *Server) generate(model string, req *gRequest, f Fault) (map[string]any, *gError) {
	g3 := isGemini3(model)
	size := "1K"
	ar := ""
	if ic := req.GenerationConfig.ImageConfig; ic != nil {
		switch ic.ImageSize {
		case "512", "1K", "2K", "4K":
			size = ic.ImageSize
		case "1k", "2k", "4k":
			return nil, &gError{400, "INVALID_ARGUMENT", `Invalid value at 'generation_config.image_config.image_size' ("` + ic.ImageSize + `"): supported values are "512", "1K", "2K" and "4K".`}
		}
		ar = ic.AspectRatio
	}
	base := sizeBase[size]
	w, h, ok := ratioSize(base, ar)
	if !ok {
		return nil, &gError{400, "INVALID_ARGUMENT", "Unsupported aspect ratio: " + ar}
	}
	// Prompt, input images and the thought-signature rule.
	var prompt strings.Builder
	textLen, images, imageTokens := 0, 0, 0
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			if c.Role == "model" {
				if g3 && !p.Thought && (p.InlineData != nil || p.Text != "") && p.ThoughtSignature == "" {
					kind := "Text"
					if p.InlineData != nil {
						kind = "Image"
					}
					return nil, &gError{400, "INVALID_ARGUMENT", kind + " part is missing a thought_signature in content position " +
						"of a model turn. Thought signatures must be passed back to the model in multi-turn conversations. " +
						"See https://ai.google.dev/gemini-api/docs/thought-signatures."}
				}
				continue
			}
			textLen += len(p.Text)
			if p.InlineData != nil {
				images++
				imageTokens += geminiInputImageTokens(model, p.InlineData.Data)
			}
		}
	}
	if n := len(req.Contents); n > 0 {
		for _, p := range req.Contents[n-1].Parts {
			prompt.WriteString(p.Text)
		}
	}
	promptText := prompt.String()
	wantText := false
	for _, m := range req.GenerationConfig.ResponseModalities {
		if strings.EqualFold(m, "TEXT") {
			wantText = true
		}
	}
	textTokens := textLen/4 + 1
	promptTokens := textTokens + imageTokens
	thoughts := 0
	if g3 {
		thoughts = 120 + len(promptText)%97
	}
	usage := map[string]any{
		"promptTokenCount": promptTokens,
		"promptTokensDetails": []any{
			map[string]any{"modality": "TEXT", "tokenCount": textTokens},
		},
	}
	if images > 0 {
		usage["promptTokensDetails"] = append(usage["promptTokensDetails"].([]any),
			map[string]any{"modality": "IMAGE", "tokenCount": imageTokens})
	}
	if thoughts > 0 {
		usage["thoughtsTokenCount"] = thoughts
	}
	seq := s.nextSeq()
	resp := map[string]any{
		"modelVersion":  model,
		"responseId":    "emu" + strconv.FormatInt(seq, 36) + shortHash([]byte(promptText), seq)[:8],
		"usageMetadata": usage,
	}
	finish := func(candTokens int) {
		usage["candidatesTokenCount"] = candTokens
		usage["totalTokenCount"] = promptTokens + candTokens + thoughts
	}
	switch f.Kind {
	case KindPromptBlocked:
		reason := f.Reason
		if reason == "" {
			reason = "OTHER"
		}
		resp["promptFeedback"] = map[string]any{"blockReason": reason}
		delete(usage, "thoughtsTokenCount")
		usage["totalTokenCount"] = promptTokens
		return resp, nil
	case KindSafetyBlock:
		reason := f.Reason
		if reason == "" {
			reason = "IMAGE_SAFETY"
		}
		resp["candidates"] = []any{map[string]any{
			"content": map[string]any{}, "finishReason": reason, "index": 0,
			"finishMessage": "Unable to show the generated image. The image was filtered out because it violated Google's Generative AI Prohibited Use policy. You will not be charged for blocked images. Try rephrasing the prompt.",
		}}
		usage["totalTokenCount"] = promptTokens + thoughts
		return resp, nil
	case KindNoImage:
		txt := "I'm unable to create that image. Could you describe it differently?"
		resp["candidates"] = []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": txt}}},
			"finishReason": "NO_IMAGE", "index": 0,
		}}
		finish(len(txt)/4 + 1)
		usage["candidatesTokensDetails"] = []any{map[string]any{"modality": "TEXT", "tokenCount": len(txt)/4 + 1}}
		return resp, nil
	}
	sig := func(tag string) string {
		sum := sha256.Sum256([]byte(tag + "|" + promptText + "|" + strconv.FormatInt(seq, 10)))
		return b64(sum[:])
	}
	img, mimeType := s.makeImage("jpeg", w, h, promptText+"|"+size+"|"+ar)
	var parts []any
	if g3 {
		draft, dm := s.makeImage("jpeg", 256, 256, "draft|"+promptText)
		parts = append(parts,
			map[string]any{"text": "**Composing the image**\n\nI am planning the layout for: " + promptText, "thought": true},
			map[string]any{"inlineData": map[string]any{"mimeType": dm, "data": b64(draft)}, "thought": true},
		)
	}
	first := true
	candText := 0
	if wantText {
		txt := "Here is the image you asked for."
		p := map[string]any{"text": txt}
		if g3 {
			p["thoughtSignature"] = sig("text")
		}
		first = false
		parts = append(parts, p)
		candText = len(txt)/4 + 1
	}
	var ip map[string]any
	if s.opts.GeminiAuth == AuthBearer && s.opts.RelayImageInText {
		ip = map[string]any{"text": "![image](" + dataURI(mimeType, img) + ")"}
	} else {
		ip = map[string]any{"inlineData": map[string]any{"mimeType": mimeType, "data": b64(img)}}
	}
	if g3 || first {
		ip["thoughtSignature"] = sig("image")
	}
	parts = append(parts, ip)
	imgTokens := geminiImageTokens(model, size)
	resp["candidates"] = []any{map[string]any{
		"content":      map[string]any{"role": "model", "parts": parts},
		"finishReason": "STOP",
		"index":        0,
	}}
	details := []any{map[string]any{"modality": "IMAGE", "tokenCount": imgTokens}}
	if candText > 0 {
		details = append(details, map[string]any{"modality": "TEXT", "tokenCount": candText})
	}
	usage["candidatesTokensDetails"] = details
	finish(imgTokens + candText)
	return resp, nil
}

func (s *Server) handleGenerateContent(w http.ResponseWriter, _ *http.Request, rt route, body []byte, f Fault) {
	var req gRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), nil)
		return
	}
	if len(req.Contents) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n", nil)
		return
	}
	resp, gerr := s.generate(rt.model, &req, f)
	if gerr != nil {
		writeGoogleError(w, gerr.code, gerr.status, gerr.message, nil)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// --- Imagen :predict ---

func (s *Server) handlePredict(w http.ResponseWriter, rt route, body []byte, f Fault) {
	var req struct {
		Instances []struct {
			Prompt string `json:"prompt"`
		} `json:"instances"`
		Parameters struct {
			SampleCount     int    `json:"sampleCount"`
			AspectRatio     string `json:"aspectRatio"`
			SampleImageSize string `json:"sampleImageSize"`
			OutputOptions   struct {
				MimeType string `json:"mimeType"`
			} `json:"outputOptions"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), nil)
		return
	}
	if len(req.Instances) == 0 || req.Instances[0].Prompt == "" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Image generation failed with the following error: instances[0].prompt is required.", nil)
		return
	}
	p := req.Parameters
	n := p.SampleCount
	if n == 0 {
		n = 4
	}
	if n < 1 || n > 4 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Image generation failed with the following error: sampleCount must be in the range [1, 4].", nil)
		return
	}
	if f.Kind == KindPromptBlocked {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. If you think this was an error, send feedback. Support codes: 42876398", nil)
		return
	}
	if f.Kind == KindSafetyBlock && f.Reason == "" {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	base := 1024
	if p.SampleImageSize == "2K" {
		base = 2048
	}
	wd, ht, ok := ratioSize(base, p.AspectRatio)
	if !ok {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Image generation failed with the following error: unsupported aspect ratio "+p.AspectRatio, nil)
		return
	}
	format := "png"
	if p.OutputOptions.MimeType == "image/jpeg" {
		format = "jpeg"
	}
	filtered := 0
	switch f.Kind {
	case KindSafetyBlock:
		filtered = n
	case KindPartialFilter:
		filtered = min(f.N, n)
	}
	preds := []any{}
	prompt := req.Instances[0].Prompt
	for i := 0; i < n; i++ {
		if i >= n-filtered {
			reason := f.Reason
			if reason == "" {
				reason = "Unable to show generated images. All images were filtered out because they violated Vertex AI's usage guidelines. You will not be charged for blocked images. Try rephrasing the prompt. If you think this was an error, send feedback. Support codes: 58061214"
			}
			preds = append(preds, map[string]any{"raiFilteredReason": reason})
			continue
		}
		img, mt := s.makeImage(format, wd, ht, prompt+"|"+strconv.Itoa(i)+"|"+rt.model)
		preds = append(preds, map[string]any{"bytesBase64Encoded": b64(img), "mimeType": mt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"predictions": preds})
}

// --- Batch Mode ---

type batchJob struct {
	id          string
	model       string
	displayName string
	created     time.Time
	cancelledAt time.Time
	expired     bool
	fileInput   string // "files/{id}" of the JSONL input, when not inline
	outputFile  string // "files/{id}" of the responses file, once succeeded
	results     []any  // inlinedResponses entries, or responses file lines
	failed      int
}

func (s *Server) handleBatchCreate(w http.ResponseWriter, rt route, body []byte) {
	var req struct {
		Batch struct {
			DisplayName string `json:"displayName"`
			InputConfig struct {
				FileName string `json:"fileName"`
				Requests struct {
					Requests []struct {
						Request  json.RawMessage `json:"request"`
						Metadata map[string]any  `json:"metadata"`
					} `json:"requests"`
				} `json:"requests"`
			} `json:"inputConfig"`
		} `json:"batch"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error(), nil)
		return
	}
	in := req.Batch.InputConfig
	if in.FileName == "" && len(in.Requests.Requests) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "* BatchGenerateContentRequest.batch.input_config: input_config is required\n", nil)
		return
	}
	seq := s.nextSeq()
	job := &batchJob{
		id:          "emu" + shortHash(body, seq)[:12],
		model:       rt.model,
		displayName: req.Batch.DisplayName,
		created:     s.now(),
	}
	if in.FileName != "" {
		s.mu.Lock()
		f, ok := s.lookupFile(in.FileName, job.created)
		s.mu.Unlock()
		if !ok {
			fileNotFound(w, in.FileName)
			return
		}
		job.fileInput = "files/" + f.id
		job.results = s.batchFileResults(job, rt.model, f.data)
	}
	for _, item := range in.Requests.Requests {
		entry := s.batchItem(job, rt.model, item.Request)
		if item.Metadata != nil {
			entry["metadata"] = item.Metadata
		}
		job.results = append(job.results, entry)
	}
	s.mu.Lock()
	s.batches[job.id] = job
	s.batchIDs = append(s.batchIDs, job.id)
	op := s.batchOperation(job, job.created)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, op)
}

// batchFileResults runs the lines of a JSONL input file, each
// {"key": ..., "request": {GenerateContentRequest}}, into responses file
// lines {"key": ..., "response": {...}} or {"key": ..., "error": {google.rpc.Status}}.
func (s *Server) batchFileResults(job *batchJob, model string, data []byte) []any {
	var out []any
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var item struct {
			Key     json.RawMessage `json:"key"`
			Request json.RawMessage `json:"request"`
		}
		if err := json.Unmarshal(line, &item); err != nil {
			out = append(out, map[string]any{"error": map[string]any{"code": 3, "message": "Invalid JSON in the input file: " + err.Error()}})
			job.failed++
			continue
		}
		entry := s.batchItem(job, model, item.Request)
		if len(item.Key) > 0 {
			entry["key"] = item.Key
		}
		out = append(out, entry)
	}
	return out
}

// batchItem answers one request of a job: {"response": ...} or
// {"error": {"code": n, "message": ...}}, counting failures in job.
func (s *Server) batchItem(job *batchJob, model string, raw json.RawMessage) map[string]any {
	entry := map[string]any{}
	var gr gRequest
	if err := json.Unmarshal(raw, &gr); err != nil || len(gr.Contents) == 0 {
		entry["error"] = map[string]any{"code": 3, "message": "Request contains an invalid argument."}
		job.failed++
	} else if bytes.Contains(raw, []byte("FAIL_ITEM")) {
		entry["error"] = map[string]any{"code": 13, "message": "Internal error encountered."}
		job.failed++
	} else if resp, gerr := s.generate(model, &gr, Fault{}); gerr != nil {
		entry["error"] = map[string]any{"code": grpcCode(gerr.status), "message": gerr.message}
		job.failed++
	} else {
		entry["response"] = resp
	}
	return entry
}

// batchOutputFile stores a succeeded file job's responses as a JSONL file
// made at end; s.mu must be held.
func (s *Server) batchOutputFile(j *batchJob, end time.Time) string {
	if j.outputFile != "" {
		return j.outputFile
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one object per line
	for _, r := range j.results {
		_ = enc.Encode(r)
	}
	id := "batch" + j.id
	s.gfiles[id] = &gFile{id: id, displayName: "responses of batches/" + j.id, mimeType: "application/jsonl",
		source: "GENERATED", data: buf.Bytes(), created: end}
	j.outputFile = "files/" + id
	return j.outputFile
}

func grpcCode(status string) int {
	switch status {
	case "INVALID_ARGUMENT":
		return 3
	case "NOT_FOUND":
		return 5
	case "RESOURCE_EXHAUSTED":
		return 8
	case "UNAVAILABLE":
		return 14
	}
	return 13
}

// ExpireBatch forces a batch job (name "batches/{id}" or the bare id) into
// BATCH_STATE_EXPIRED. It reports whether the job exists.
func (s *Server) ExpireBatch(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.batches[strings.TrimPrefix(name, "batches/")]
	if ok {
		j.expired = true
	}
	return ok
}

// batchState computes a job's state at now; s.mu must be held.
func (s *Server) batchState(j *batchJob, now time.Time) (state string, end time.Time) {
	el := now.Sub(j.created)
	done := j.created.Add(s.batchD)
	switch {
	case !j.cancelledAt.IsZero():
		return "BATCH_STATE_CANCELLED", j.cancelledAt
	case j.expired:
		return "BATCH_STATE_EXPIRED", now
	case el >= 48*time.Hour && s.batchD > 48*time.Hour:
		return "BATCH_STATE_EXPIRED", j.created.Add(48 * time.Hour)
	case el >= s.batchD:
		return "BATCH_STATE_SUCCEEDED", done
	case el >= s.batchD/2:
		return "BATCH_STATE_RUNNING", time.Time{}
	}
	return "BATCH_STATE_PENDING", time.Time{}
}

// batchOperation renders a job as the long-running Operation the Gemini
// API returns; s.mu must be held.
func (s *Server) batchOperation(j *batchJob, now time.Time) map[string]any {
	state, end := s.batchState(j, now)
	name := "batches/" + j.id
	n := len(j.results)
	stats := map[string]any{"requestCount": strconv.Itoa(n)}
	md := map[string]any{
		"@type":       "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
		"name":        name,
		"model":       "models/" + j.model,
		"displayName": j.displayName,
		"createTime":  j.created.UTC().Format(time.RFC3339Nano),
		"updateTime":  now.UTC().Format(time.RFC3339Nano),
		"state":       state,
		"batchStats":  stats,
	}
	op := map[string]any{"name": name, "metadata": md}
	switch state {
	case "BATCH_STATE_SUCCEEDED":
		stats["successfulRequestCount"] = strconv.Itoa(n - j.failed)
		if j.failed > 0 {
			stats["failedRequestCount"] = strconv.Itoa(j.failed)
		}
		var out map[string]any
		if j.fileInput != "" {
			out = map[string]any{"responsesFile": s.batchOutputFile(j, end)}
		} else {
			out = map[string]any{"inlinedResponses": map[string]any{"inlinedResponses": j.results}}
		}
		md["output"] = out
		md["endTime"] = end.UTC().Format(time.RFC3339Nano)
		op["done"] = true
		resp := map[string]any{"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"}
		for k, v := range out {
			resp[k] = v
		}
		op["response"] = resp
	case "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED":
		md["endTime"] = end.UTC().Format(time.RFC3339Nano)
		stats["pendingRequestCount"] = strconv.Itoa(n)
		op["done"] = true
	default:
		stats["pendingRequestCount"] = strconv.Itoa(n)
	}
	return op
}

func (s *Server) batchNotFound(w http.ResponseWriter, id string) {
	writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Batch batches/"+id+" not found.", nil)
}

func (s *Server) handleBatchGet(w http.ResponseWriter, rt route) {
	now := s.now()
	s.mu.Lock()
	j, ok := s.batches[rt.batchID]
	var op map[string]any
	if ok {
		op = s.batchOperation(j, now)
	}
	s.mu.Unlock()
	if !ok {
		s.batchNotFound(w, rt.batchID)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

func (s *Server) handleBatchList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("pageSize"))
	if size <= 0 || size > 1000 {
		size = 50
	}
	start := 0
	if t := q.Get("pageToken"); t != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(t, "p"))
		if err != nil || v < 0 {
			writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid page token.", nil)
			return
		}
		start = v
	}
	now := s.now()
	s.mu.Lock()
	ids := append([]string(nil), s.batchIDs...)
	ops := []any{}
	// Newest first, like the real service.
	slices.Reverse(ids)
	next := ""
	for i := start; i < len(ids); i++ {
		if len(ops) == size {
			next = "p" + strconv.Itoa(i)
			break
		}
		ops = append(ops, s.batchOperation(s.batches[ids[i]], now))
	}
	s.mu.Unlock()
	resp := map[string]any{"operations": ops}
	if next != "" {
		resp["nextPageToken"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleBatchCancel(w http.ResponseWriter, rt route) {
	now := s.now()
	s.mu.Lock()
	j, ok := s.batches[rt.batchID]
	if ok {
		if st, _ := s.batchState(j, now); st == "BATCH_STATE_PENDING" || st == "BATCH_STATE_RUNNING" {
			j.cancelledAt = now
		}
	}
	s.mu.Unlock()
	if !ok {
		s.batchNotFound(w, rt.batchID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) handleBatchDelete(w http.ResponseWriter, rt route) {
	s.mu.Lock()
	_, ok := s.batches[rt.batchID]
	if ok {
		delete(s.batches, rt.batchID)
		for i, id := range s.batchIDs {
			if id == rt.batchID {
				s.batchIDs = append(s.batchIDs[:i:i], s.batchIDs[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		s.batchNotFound(w, rt.batchID)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}
