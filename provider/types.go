package provider

// Request describes the images wanted. Fields left zero take the provider's
// defaults. A Request is read, never modified, by generators and decorators.
type Request struct {
	Prompt         string
	Model          string            // overrides the generator's default model
	N              int               // images wanted; 0 means 1
	Size           string            // "512", "1K", "2K", "4K", "auto" or "WIDTHxHEIGHT"
	AspectRatio    string            // "1:1", "16:9", ...
	Quality        string            // provider vocabulary: "low", "high", "hd", ...
	OutputFormat   string            // "png", "jpeg", "webp" (and "gif", "svg" where offered)
	References     []Image           // input images: edit source, subject or style references
	Mask           *Image            // inpainting mask, where supported
	Seed           *int64            // fixed seed, where supported
	NegativePrompt string            // what to avoid, where supported
	Labels         map[string]string // caller's tags for metering and routing; never sent upstream
	Options        Options           // typed settings for adapters and decorators; each reads its own type
}

// Count returns the number of images wanted: N, or 1 when N is 0.
func (r *Request) Count() int {
	if r == nil || r.N <= 0 {
		return 1
	}
	return r.N
}

// Clone returns a copy of r whose maps and slices may be modified without
// touching r. Image bytes are shared, since nothing modifies them in place.
// A nil r gives nil.
func (r *Request) Clone() *Request {
	if r == nil {
		return nil
	}
	c := *r
	if r.References != nil {
		c.References = append([]Image(nil), r.References...)
	}
	if r.Mask != nil {
		m := *r.Mask
		c.Mask = &m
	}
	if r.Seed != nil {
		s := *r.Seed
		c.Seed = &s
	}
	c.Labels = cloneMap(r.Labels)
	if r.Options != nil {
		c.Options = append(Options(nil), r.Options...)
	}
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Image is an encoded image, given to or returned by a provider.
type Image struct {
	Data          []byte // encoded bytes
	MIMEType      string // from the provider, checked against the bytes
	URL           string // only when a link was returned and not downloaded
	RevisedPrompt string // the prompt the provider actually used, if it said
}

// Response is what a Generator returns.
type Response struct {
	Images   []Image
	Text     string   // text the model returned beside the images
	Provider string   // "gemini", "openai", "openrouter", ...
	Model    string   // the model that actually served the request
	Usage    Usage    // what the provider reported
	Cost     USD      // set by the pricing meter
	Cached   bool     // set by the cache
	Attempts int      // upstream calls made for this response
	Warnings []string // deprecated model, ignored parameter, filtered images, ...
}

// Usage is what a provider reported it billed for a call.
type Usage struct {
	InputTokens       int // all input tokens, text and image
	InputImageTokens  int // the image part of InputTokens
	OutputTokens      int // all output tokens; includes OutputImageTokens
	OutputImageTokens int // the image part of OutputTokens
	ThoughtTokens     int // thinking tokens, billed as text output; not part of OutputTokens
	Images            int // images billed
	Previews          int // partial images billed beside the final ones (see Previews)
}

// Add returns the field-wise sum of u and o.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:       u.InputTokens + o.InputTokens,
		InputImageTokens:  u.InputImageTokens + o.InputImageTokens,
		OutputTokens:      u.OutputTokens + o.OutputTokens,
		OutputImageTokens: u.OutputImageTokens + o.OutputImageTokens,
		ThoughtTokens:     u.ThoughtTokens + o.ThoughtTokens,
		Images:            u.Images + o.Images,
		Previews:          u.Previews + o.Previews,
	}
}

// IsZero reports whether nothing was reported.
func (u Usage) IsZero() bool { return u == Usage{} }
