package taskapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/imagegen-go/imagegen/catalog"
	"github.com/imagegen-go/imagegen/provider"
)

// plan is a checked request: everything needed to submit it, made
// before any network call.
type plan struct {
	req      *provider.Request
	id       string // the model's ID, with the service's prefix
	sp       spec
	cat      *catalog.Model // nil for a model the catalog does not know
	input    map[string]any // the task input without references
	extra    map[string]json.RawMessage
	counts   []int // images per task
	refs     []ref
	opts     Options
	warnings []string
}

// ref is a reference image, checked.
type ref struct {
	data     []byte
	mimeType string
}

// refTypes are the reference formats each service takes.
func (s Service) refTypes() []string {
	if s == ServiceKie {
		return []string{"image/jpeg", "image/png", "image/webp"} // Kie's image_input: jpeg, png, webp
	}
	return []string{"image/jpeg", "image/png", "image/webp", "image/gif"}
}

// resolveModel turns a model name into the service's model ID: an ID of
// this service as it is, a bare name with the service's prefix added,
// and a Google or OpenAI ID of a model the service also serves
// ("gemini-3-pro-image" on Kie.ai is "kie/nano-banana-pro", with a
// warning). Another service's ID, or a Google or OpenAI model the service
// does not serve, is refused.
func (g *Generator) resolveModel(model string) (id, warning string, err error) {
	m := strings.TrimSpace(model)
	fail := func(format string, args ...any) (string, string, error) {
		return "", "", &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: m, Code: "Model",
			Message: "Model: " + fmt.Sprintf(format, args...)}
	}
	prefix := g.svc.prefix()
	switch {
	case m == "":
		return fail("no model")
	case strings.HasPrefix(m, prefix):
		id = m
	default:
		for _, o := range []Service{ServiceKie, ServiceReplicate, ServiceAPIMart} {
			if o != g.svc && strings.HasPrefix(m, o.prefix()) {
				return fail("%q is a model of %s, not of %s", m, o, g.svc)
			}
		}
		if s := sameAs(g.svc, m); s != "" {
			id, warning = s, fmt.Sprintf("model %s served as %s", m, s)
			break
		}
		if cm, ok := g.catalog.Lookup(m); ok && cm.Protocol != catalog.ProtocolTask {
			return fail("%q is a %s model, which %s does not serve here; name one of its models, such as %s", m, cm.Provider, g.svc, g.svc.defaultModel())
		}
		id = prefix + m
	}
	remote := strings.TrimPrefix(id, prefix)
	switch {
	case remote == "" || strings.ContainsAny(remote, " \t\r\n?#"):
		return fail("%q is not a model name", m)
	case g.svc == ServiceReplicate && !replicateModel.MatchString(remote) && !replicateVersion.MatchString(remote):
		return fail("%q: Replicate models are owner/name, owner/name:version or a 64-hex version ID", m)
	}
	return id, warning, nil
}

// prepare checks req and builds its plan, without calling the network.
func (g *Generator) prepare(req *provider.Request) (*plan, error) {
	if g == nil || g.http == nil {
		return nil, &provider.Error{Kind: provider.KindInvalidRequest, Provider: "taskapi", Message: "Generator: nil or not built with taskapi.New"}
	}
	name := g.model
	if req != nil && req.Model != "" {
		name = req.Model
	}
	if err := req.Validate(); err != nil {
		return nil, provider.WithOrigin(err, g.name, name)
	}
	id, warn, err := g.resolveModel(name)
	if err != nil {
		return nil, err
	}
	p := &plan{req: req, id: id, sp: lookupSpec(g.svc, id), input: map[string]any{"prompt": req.Prompt}}
	if warn != "" {
		p.warnings = append(p.warnings, warn)
	}
	if err := g.catalog.CheckLive(id, g.clock.Now()); err != nil {
		return nil, provider.WithOrigin(err, g.name, id)
	}
	if m, ok := g.catalog.Lookup(id); ok {
		p.cat = m
		if err := m.Validate(req); err != nil {
			return nil, provider.WithOrigin(err, g.name, id)
		}
		p.warnings = append(p.warnings, m.Warnings(g.clock.Now())...)
	}
	invalid := func(field, format string, args ...any) error {
		return &provider.Error{Kind: provider.KindInvalidRequest, Provider: g.name, Model: id, Code: field,
			Message: field + ": " + fmt.Sprintf(format, args...)}
	}
	if req.Mask != nil {
		return nil, invalid("Mask", "%s takes no mask", g.svc)
	}
	if err := g.readOptions(p, invalid); err != nil {
		return nil, err
	}
	if err := g.mapFields(p, invalid); err != nil {
		return nil, err
	}
	if err := g.checkRefs(p, invalid); err != nil {
		return nil, err
	}
	n := req.Count()
	per := 1
	if p.sp.countField != "" && p.sp.maxCount > 1 {
		per = p.sp.maxCount
	}
	for left := n; left > 0; left -= per {
		p.counts = append(p.counts, min(left, per))
	}
	return p, nil
}

// mapFields puts the common request fields into the task input, in the
// model's vocabulary; a field the model has no input for is dropped with a
// warning.
func (g *Generator) mapFields(p *plan, invalid func(string, string, ...any) error) error {
	req, sp := p.req, p.sp
	drop := func(field, value string) {
		p.warnings = append(p.warnings, fmt.Sprintf("%s %q ignored: %s has no such input (taskapi.Options.Input can set the model's own field)", field, value, p.id))
	}
	if req.Size != "" {
		sz, _ := provider.ParseSize(req.Size) // Validate passed
		switch {
		case sz.Auto:
		case sz.Width > 0:
			return invalid("Size", "%q: %s takes a size tier (1K, 2K, 4K), not pixels; set the model's own fields with taskapi.Options.Input", req.Size, p.id)
		case sp.sizeField == "":
			drop("Size", req.Size)
		default:
			v := sz.Tier
			if w, ok := sp.sizes[v]; ok {
				v = w
			}
			p.input[sp.sizeField] = v
		}
	}
	if ar := req.AspectRatio; ar != "" {
		switch {
		case sp.ratioField == "":
			drop("AspectRatio", ar)
		case strings.EqualFold(ar, "auto") && sp.autoRatio != "":
			p.input[sp.ratioField] = sp.autoRatio
		default:
			p.input[sp.ratioField] = strings.ToLower(ar)
		}
	}
	if f := provider.NormalizeFormat(req.OutputFormat); f != "" {
		switch {
		case sp.formatField == "":
			p.warnings = append(p.warnings, fmt.Sprintf("OutputFormat %q ignored: %s returns its own format", req.OutputFormat, p.id))
		case f == "jpeg" && sp.jpeg != "":
			p.input[sp.formatField] = sp.jpeg
		default:
			p.input[sp.formatField] = f
		}
	}
	if req.Quality != "" {
		drop("Quality", req.Quality)
	}
	if req.Seed != nil {
		drop("Seed", fmt.Sprint(*req.Seed))
	}
	if req.NegativePrompt != "" {
		drop("NegativePrompt", "…")
	}
	return nil
}

// checkRefs checks the reference images against what the service and
// model take: their count (the catalog, already), format and size.
func (g *Generator) checkRefs(p *plan, invalid func(string, string, ...any) error) error {
	refs := p.req.References
	if len(refs) == 0 {
		return nil
	}
	if p.sp.refField == "" {
		return invalid("References", "%s takes no reference images", p.id)
	}
	maxBytes := int64(DefaultMaxReferenceBytes)
	if p.cat != nil && p.cat.MaxReferenceBytes > 0 {
		maxBytes = p.cat.MaxReferenceBytes
	}
	types := g.svc.refTypes()
	for i, r := range refs {
		field := fmt.Sprintf("References[%d]", i)
		mt, err := provider.CheckInputImage(field, r) // Validate checked it; this gives the type
		if err != nil {
			return provider.WithOrigin(err, g.name, p.id)
		}
		if !slices.Contains(types, mt) {
			return invalid(field, "%s takes %s references, not %s", g.svc, strings.Join(types, ", "), mt)
		}
		if int64(len(r.Data)) > maxBytes {
			return invalid(field, "%d bytes; %s takes reference images of at most %d bytes", len(r.Data), p.id, maxBytes)
		}
		p.refs = append(p.refs, ref{data: r.Data, mimeType: mt})
	}
	return nil
}

// readOptions reads the request's Options.
func (g *Generator) readOptions(p *plan, invalid func(string, string, ...any) error) error {
	opts, _ := provider.OptionOf[Options](p.req)
	p.opts = opts
	if opts.CancelAfter != 0 && opts.CancelAfter < 5e9 {
		return invalid("Options.CancelAfter", "%s: Replicate's minimum is 5s", opts.CancelAfter)
	}
	if len(bytes.TrimSpace(opts.Input)) == 0 {
		return nil
	}
	if err := json.Unmarshal(opts.Input, &p.extra); err != nil || p.extra == nil {
		return invalid("Options.Input", "not a JSON object")
	}
	return nil
}

// taskInput returns the input of one task: the plan's fields, the
// reference URLs, the image count and the extra fields the request set.
func (p *plan) taskInput(urls []string, count int) map[string]any {
	in := make(map[string]any, len(p.input)+len(p.extra)+2)
	for k, v := range p.input {
		in[k] = v
	}
	if len(urls) > 0 {
		in[p.sp.refField] = urls
	}
	if p.sp.countField != "" {
		in[p.sp.countField] = count
	}
	for k, v := range p.extra {
		if _, set := in[k]; !set {
			in[k] = v
		}
	}
	return in
}

// remote is the service's model name for the plan: the image-to-image
// model when the request has references and the model has one.
func (p *plan) remote() string {
	if len(p.refs) > 0 && p.sp.editRemote != "" {
		return p.sp.editRemote
	}
	return p.sp.remote
}
