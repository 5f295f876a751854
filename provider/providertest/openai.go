package providertest

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// imageParams are the fields shared by generations, edits and OpenRouter.
type imageParams struct {
	model, prompt, size, quality, format, background, responseFormat string
	n                                                                int
	inputImages                                                      int
	inputTokens                                                      int // image input tokens of the edit sources
	partials                                                         int // partial_images, for streams
	partialsBad                                                      string
}

func str(m map[string]any, k string) string {
	if v, ok := m[k].(string); ok {
		return v
	}
	return ""
}

func num(m map[string]any, k string) (int, bool) {
	switch v := m[k].(type) {
	case float64:
		return int(v), true
	case string:
		i, err := strconv.Atoi(v)
		return i, err == nil
	}
	return 0, false
}

func isDallE(model string) bool { return strings.HasPrefix(model, "dall-e") }

// parseSize validates size for model; "" and "auto" mean 1024x1024.
func parseSize(model, size string) (w, h int, err string) {
	if size == "" || size == "auto" {
		return 1024, 1024, ""
	}
	var allowed []string
	switch model {
	case "dall-e-2":
		allowed = []string{"256x256", "512x512", "1024x1024"}
	case "dall-e-3":
		allowed = []string{"1024x1024", "1792x1024", "1024x1792"}
	}
	bad := fmt.Sprintf("Invalid value: '%s'. Supported values are: 'auto', '1024x1024', '1536x1024', '1024x1536' or WIDTHxHEIGHT with both sides multiples of 16, aspect ratio at most 3:1 and longest edge at most 3840.", size)
	if allowed != nil {
		for _, a := range allowed {
			if a == size {
				fmt.Sscanf(size, "%dx%d", &w, &h)
				return w, h, ""
			}
		}
		return 0, 0, fmt.Sprintf("Invalid value: '%s'. Supported values are: '%s'.", size, strings.Join(allowed, "', '"))
	}
	ws, hs, ok := strings.Cut(size, "x")
	if !ok {
		return 0, 0, bad
	}
	w, e1 := strconv.Atoi(ws)
	h, e2 := strconv.Atoi(hs)
	if e1 != nil || e2 != nil || w < 16 || h < 16 || w%16 != 0 || h%16 != 0 || max(w, h) > 3840 || max(w, h) > 3*min(w, h) {
		return 0, 0, bad
	}
	return w, h, ""
}

// Image token counts, as OpenAI bills them.
//
// The gpt-image-2 family bills output tokens by area and quality with the
// calculator of OpenAI's image-generation guide
// (https://developers.openai.com/api/docs/guides/image-generation#cost-and-latency,
// formula read from its source at
// https://community.openai.com/t/gpt-image-2-output-pricing-calculator-online-and-in-your-code/1382699,
// checked 2026-12-04): with f the quality factor and long, short the sides,
// s = ⌊f·short/long + ½⌋ and tokens = ⌈f·s·(2,000,000 + w·h) / 4,000,000⌉.
// gpt-image-2 at high: 7,024 tokens for 1024x1024 ($0.211), 5,488 for
// 1536x1024, 13,342 for 3840x2160. The 2.5 and 2.6 factors are derived from
// ComfyUI's price badge (pricing/catalog.json gives the sources). quality
// "auto" (or none) is billed as high. gpt-image-1, 1.5, 1-mini and
// chatgpt-image-latest use the guide's table for their three fixed sizes
// (low 272/408/400, medium 1056/1584/1568, high 4160/6240/6208 for
// 1024x1024, 1024x1536, 1536x1024), scaled by area elsewhere.
var (
	gptImage2Factors  = map[string]int{"low": 16, "medium": 48, "high": 96}
	gptImage25Factors = map[string]int{"low": 16, "medium": 24, "high": 48, "xhigh": 64, "max": 96}
	gptImage1Tokens   = map[string][3]int{"low": {272, 408, 400}, "medium": {1056, 1584, 1568}, "high": {4160, 6240, 6208}}
)

// billedQuality is the quality a request is billed at: "auto" and none are
// billed as high.
func billedQuality(q string) string {
	if q == "" || q == "auto" {
		return "high"
	}
	return q
}

// outputImageTokens is what one w×h image of model at quality is billed.
func outputImageTokens(model, quality string, w, h int) int {
	quality = billedQuality(quality)
	factors := gptImage2Factors
	switch {
	case strings.HasPrefix(model, "gpt-image-2.5") || strings.HasPrefix(model, "gpt-image-2.6"):
		factors = gptImage25Factors
	case strings.HasPrefix(model, "gpt-image-2"):
	default:
		t, ok := gptImage1Tokens[quality]
		if !ok {
			t = gptImage1Tokens["high"]
		}
		switch {
		case w == 1024 && h == 1024:
			return t[0]
		case w == 1024 && h == 1536:
			return t[1]
		case w == 1536 && h == 1024:
			return t[2]
		}
		return int(math.Round(float64(t[0]) * float64(w*h) / (1024 * 1024)))
	}
	f, ok := factors[quality]
	if !ok {
		f = factors["high"]
	}
	q, long, short := int64(f), int64(max(w, h)), int64(min(w, h))
	s := (2*q*short + long) / (2 * long)
	return int((q*s*(2_000_000+int64(w)*int64(h)) + 4_000_000 - 1) / 4_000_000)
}

// inputImageTokens is what one reference of w×h pixels is billed on the
// Images API: 32-px patches, at most 1,536 (a 1024x1024 reference is
// 1,024 tokens; derived from ComfyUI's prices, see pricing/catalog.json).
// A reference whose size cannot be read counts 1,536.
func inputImageTokens(w, h int) int {
	if w <= 0 || h <= 0 {
		return 1536
	}
	return min(((w+31)/32)*((h+31)/32), 1536)
}

// editInputTokens reads the size of every image[] part of a multipart
// edits body and sums their input tokens.
func editInputTokens(rec Request) int {
	_, params, _ := mime.ParseMediaType(rec.Header.Get("Content-Type"))
	if params["boundary"] == "" {
		return 0
	}
	total := 0
	mr := multipart.NewReader(bytes.NewReader(rec.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.FileName() == "" || (p.FormName() != "image" && p.FormName() != "image[]") {
			continue
		}
		w, h := 0, 0
		if cfg, _, err := image.DecodeConfig(p); err == nil {
			w, h = cfg.Width, cfg.Height
		}
		total += inputImageTokens(w, h)
	}
	return total
}

func (s *Server) invalid(w http.ResponseWriter, msg, param, code string) {
	writeOpenAIError(w, http.StatusBadRequest, msg, "invalid_request_error", param, code, nil)
}

// handleImagesGenerations serves generations and OpenRouter's images; st
// is nil unless the answer is a stream.
func (s *Server) handleImagesGenerations(w http.ResponseWriter, rt route, rec Request, f Fault, st *streamReq) {
	if rec.JSON == nil {
		s.invalid(w, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", "", "")
		return
	}
	p := imageParams{
		model: str(rec.JSON, "model"), prompt: str(rec.JSON, "prompt"), size: str(rec.JSON, "size"),
		quality: str(rec.JSON, "quality"), format: str(rec.JSON, "output_format"),
		background: str(rec.JSON, "background"), responseFormat: str(rec.JSON, "response_format"),
	}
	if v, present := rec.JSON["partial_images"]; present {
		if n, ok := v.(float64); ok && n == float64(int(n)) {
			p.partials = int(n)
		} else {
			p.partialsBad = "Invalid type for 'partial_images': expected an integer, but got " + jsonTypeName(v) + " instead."
		}
	}
	if n, ok := num(rec.JSON, "n"); ok {
		p.n = n
	} else if _, present := rec.JSON["n"]; !present {
		p.n = 1
	} else {
		p.n = -1
	}
	if rt.ep == EndpointOpenRouterImages {
		if p.model == "" {
			s.invalid(w, "model is required", "model", "")
			return
		}
		if p.size == "" {
			p.size = orSize(rec.JSON)
		}
	} else if p.model == "" {
		p.model = "dall-e-2"
	}
	s.serveImages(w, rt.ep, p, f, st)
}

// jsonTypeName names a decoded JSON value's type as OpenAI's messages do.
func jsonTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a decimal"
}

// orSize maps OpenRouter's image_config to WxH.
func orSize(m map[string]any) string {
	ic, _ := m["image_config"].(map[string]any)
	ar := str(m, "aspect_ratio")
	sz := ""
	if ic != nil {
		if v := str(ic, "aspect_ratio"); v != "" {
			ar = v
		}
		sz = str(ic, "image_size")
	}
	base := chatBase(sz)
	w, h, ok := ratioSize(base, ar)
	if !ok {
		return ""
	}
	return strconv.Itoa(w) + "x" + strconv.Itoa(h)
}

func chatBase(sz string) int {
	switch strings.ToUpper(sz) {
	case "0.5K", "512":
		return 512
	case "2K":
		return 2048
	case "4K":
		return 4096
	}
	return 1024
}

func (s *Server) handleImagesEdits(w http.ResponseWriter, rec Request, f Fault, st *streamReq) {
	if rec.Form == nil {
		s.invalid(w, "Invalid Content-Type header (expected multipart/form-data).", "", "")
		return
	}
	get := func(k string) string {
		if v := rec.Form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	p := imageParams{
		model: get("model"), prompt: get("prompt"), size: get("size"), quality: get("quality"),
		format: get("output_format"), background: get("background"), responseFormat: get("response_format"),
		n: 1,
	}
	if p.model == "" {
		p.model = "dall-e-2"
	}
	if v := get("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.invalid(w, "Invalid type for 'n': expected an integer, but got a string instead.", "n", "invalid_type")
			return
		}
		p.n = n
		if n == 0 {
			p.n = 1 // go-openai always sends n, "0" when unset
		}
	}
	if v := get("partial_images"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			p.partialsBad = "Invalid type for 'partial_images': expected an integer, but got a string instead."
		}
		p.partials = n
	}
	p.inputImages = len(rec.Files["image"]) + len(rec.Files["image[]"])
	p.inputTokens = editInputTokens(rec)
	if p.inputImages == 0 {
		s.invalid(w, "Missing required parameter: 'image'.", "image", "missing_required_parameter")
		return
	}
	if p.inputImages > 16 {
		s.invalid(w, fmt.Sprintf("Invalid 'image': array too long. Expected an array with maximum length 16, but got an array with length %d instead.", p.inputImages), "image", "array_above_max_length")
		return
	}
	s.serveImages(w, EndpointImagesEdits, p, f, st)
}

// serveImages answers an Images API request, as JSON or, when st is not
// nil, as a stream (imagesStream).
func (s *Server) serveImages(w http.ResponseWriter, ep Endpoint, p imageParams, f Fault, st *streamReq) {
	if p.prompt == "" {
		s.invalid(w, "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
		return
	}
	if p.n < 1 {
		s.invalid(w, fmt.Sprintf("Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", p.n), "n", "integer_below_min_value")
		return
	}
	if p.n > 10 {
		s.invalid(w, fmt.Sprintf("Invalid 'n': integer above maximum value. Expected a value <= 10, but got %d instead.", p.n), "n", "integer_above_max_value")
		return
	}
	wd, ht, bad := parseSize(p.model, p.size)
	if bad != "" {
		s.invalid(w, bad, "size", "invalid_value")
		return
	}
	if st != nil {
		if isDallE(p.model) {
			refuseStream(w)
			return
		}
		switch {
		case p.partialsBad != "":
			s.invalid(w, p.partialsBad, "partial_images", "invalid_type")
			return
		case p.partials < 0:
			s.invalid(w, fmt.Sprintf("Invalid 'partial_images': integer below minimum value. Expected a value >= 0, but got %d instead.", p.partials), "partial_images", "integer_below_min_value")
			return
		case p.partials > 3:
			s.invalid(w, fmt.Sprintf("Invalid 'partial_images': integer above maximum value. Expected a value <= 3, but got %d instead.", p.partials), "partial_images", "integer_above_max_value")
			return
		}
	}
	switch f.Kind {
	case KindSafetyBlock:
		writeOpenAIError(w, http.StatusBadRequest,
			"Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID req_emulator.",
			"image_generation_user_error", "", "moderation_blocked", nil)
		return
	case KindPromptBlocked:
		writeOpenAIError(w, http.StatusBadRequest,
			"Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
			"invalid_request_error", "", "content_policy_violation", nil)
		return
	}
	dalle := isDallE(p.model)
	format := p.format
	switch format {
	case "", "png", "webp":
		format = "png" // webp cannot be encoded with the standard library: PNG is sent
	case "jpeg", "jpg":
		format = "jpeg"
	default:
		s.invalid(w, fmt.Sprintf("Invalid value: '%s'. Supported values are: 'png', 'jpeg', and 'webp'.", p.format), "output_format", "invalid_value")
		return
	}
	if dalle {
		format = "png"
	}
	data := []any{}
	var images [][]byte
	if f.Kind != KindNoImage {
		for i := 0; i < p.n; i++ {
			img, _ := s.makeImage(format, wd, ht, p.prompt+"|"+strconv.Itoa(i)+"|"+p.model)
			images = append(images, img)
			item := map[string]any{}
			if dalle && p.responseFormat == "url" {
				item["url"] = s.storeFile(img)
			} else {
				item["b64_json"] = b64(img)
			}
			if p.model == "dall-e-3" {
				item["revised_prompt"] = "A detailed rendering of " + p.prompt
			}
			data = append(data, item)
		}
	}
	resp := map[string]any{"created": s.now().Unix(), "data": data}
	textTok := len(p.prompt)/4 + 1
	imgIn := 0
	if ep == EndpointImagesEdits {
		imgIn = p.inputTokens
	}
	if ep == EndpointOpenRouterImages {
		resp["usage"] = map[string]any{
			"prompt_tokens": textTok, "completion_tokens": 1290 * len(data),
			"total_tokens": textTok + 1290*len(data), "cost": 0.039 * float64(len(data)),
		}
		if st != nil {
			s.imagesStream(w, st, ep, p, format, wd, ht, images, resp["usage"].(map[string]any))
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	if !dalle {
		q := billedQuality(p.quality)
		out := outputImageTokens(p.model, q, wd, ht) * len(data)
		resp["usage"] = map[string]any{
			"input_tokens":          textTok + imgIn,
			"input_tokens_details":  map[string]any{"text_tokens": textTok, "image_tokens": imgIn},
			"output_tokens":         out,
			"output_tokens_details": map[string]any{"image_tokens": out, "text_tokens": 0},
			"total_tokens":          textTok + imgIn + out,
		}
		bg := p.background
		if bg == "" || bg == "auto" {
			bg = "opaque"
		}
		resp["output_format"] = format
		resp["quality"] = q
		resp["size"] = strconv.Itoa(wd) + "x" + strconv.Itoa(ht)
		resp["background"] = bg
		if st != nil {
			usage := resp["usage"].(map[string]any)
			delete(usage, "output_tokens_details") // the stream events have none (§A.3 of the research)
			s.imagesStream(w, st, ep, p, format, wd, ht, images, usage)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// --- chat completions ---

// handleChat serves chat completions; st is nil unless the answer is a
// stream (chatStream).
func (s *Server) handleChat(w http.ResponseWriter, rec Request, f Fault, st *streamReq) {
	m := rec.JSON
	if m == nil {
		s.invalid(w, "We could not parse the JSON body of your request.", "", "")
		return
	}
	model := str(m, "model")
	if model == "" {
		s.invalid(w, "you must provide a model parameter", "model", "")
		return
	}
	msgs, _ := m["messages"].([]any)
	if len(msgs) == 0 {
		s.invalid(w, "[] is too short - 'messages'", "messages", "")
		return
	}
	prompt, textLen, images := "", 0, 0
	for _, raw := range msgs {
		msg, _ := raw.(map[string]any)
		if msg == nil || str(msg, "role") != "user" {
			continue
		}
		cur := ""
		switch c := msg["content"].(type) {
		case string:
			cur = c
		case []any:
			for _, pr := range c {
				part, _ := pr.(map[string]any)
				switch str(part, "type") {
				case "text":
					cur += str(part, "text")
				case "image_url":
					images++
				}
			}
		}
		textLen += len(cur)
		prompt = cur
	}
	wantImage := true
	if mods, ok := m["modalities"].([]any); ok {
		wantImage = false
		for _, v := range mods {
			if v == "image" {
				wantImage = true
			}
		}
	}
	if f.Kind == KindPromptBlocked {
		writeOpenAIError(w, http.StatusBadRequest,
			"Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.",
			"invalid_request_error", "", "content_policy_violation", nil)
		return
	}
	size := orSize(m)
	wd, ht := 1024, 1024
	fmt.Sscanf(size, "%dx%d", &wd, &ht)
	s.mu.Lock()
	shape := s.chatShape
	s.mu.Unlock()

	promptTok := textLen/4 + 1 + 560*images
	text := "Here is your image."
	finish, native := "stop", "STOP"
	var message map[string]any
	completion := len(text)/4 + 1
	switch {
	case f.Kind == KindSafetyBlock:
		text = ""
		finish, native = "content_filter", f.Reason
		if native == "" {
			native = "IMAGE_SAFETY"
		}
		message = map[string]any{"role": "assistant", "content": ""}
	case f.Kind == KindNoImage || !wantImage:
		text = "I can't create that image, but here is a description of it instead."
		message = map[string]any{"role": "assistant", "content": text}
		completion = len(text)/4 + 1
	default:
		img, mt := s.makeImage("png", wd, ht, prompt+"|"+size+"|"+model)
		uri := dataURI(mt, img)
		completion += 1290
		switch shape {
		case ChatImages:
			message = map[string]any{"role": "assistant", "content": text, "images": []any{
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": uri}, "index": 0},
			}}
		case ChatMarkdown:
			content := text
			if isGemini3(model) {
				draft, dm := s.makeImage("png", 256, 256, "draft|"+prompt)
				content += "\n\n![image](" + dataURI(dm, draft) + ")"
			}
			content += "\n\n![image](" + uri + ")"
			message = map[string]any{"role": "assistant", "content": content}
		case ChatContentArray:
			message = map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "text", "text": text},
				map[string]any{"type": "image_url", "image_url": map[string]any{"url": uri}},
			}}
		case ChatHostedURL:
			message = map[string]any{"role": "assistant", "content": text + "\n\n![image](" + s.storeFile(img) + ")"}
		}
	}
	seq := s.nextSeq()
	resp := map[string]any{
		"id":      "chatcmpl-emu" + strconv.FormatInt(seq, 10),
		"object":  "chat.completion",
		"created": s.now().Unix(),
		"model":   model,
		"choices": []any{map[string]any{
			"index": 0, "message": message, "finish_reason": finish, "native_finish_reason": native,
		}},
		"usage": map[string]any{
			"prompt_tokens": promptTok, "completion_tokens": completion, "total_tokens": promptTok + completion,
			"cost": math.Round((float64(promptTok)*0.3e-6+float64(completion)*30e-6)*1e6) / 1e6,
		},
	}
	if st != nil {
		s.chatStream(w, st, resp, model)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
