package taskapi

import (
	"regexp"
	"strings"
)

// Service names a task API.
type Service string

// The services this package speaks.
const (
	ServiceKie       Service = "kie"       // Kie.ai's Market jobs API
	ServiceReplicate Service = "replicate" // Replicate's predictions API
	ServiceAPIMart   Service = "apimart"   // APIMart's image tasks API
)

// known reports whether s is one of the services.
func (s Service) known() bool {
	return s == ServiceKie || s == ServiceReplicate || s == ServiceAPIMart
}

// prefix is what every model ID of the service starts with.
func (s Service) prefix() string { return string(s) + "/" }

// spec says how one model's request is put on the wire: the service's
// model names and the input fields it takes. Prices, sizes, ratios and
// limits are data, in the catalog; field names are code, here.
type spec struct {
	id          string            // the catalog ID, "kie/nano-banana-pro"
	remote      string            // the service's model name for text-to-image
	editRemote  string            // the model name when the request has references ("" = remote)
	refField    string            // input field of reference URLs ("" = references not taken)
	sizeField   string            // input field of the size tier ("resolution", "size")
	sizes       map[string]string // canonical tier → wire value; nil = the tier as is
	ratioField  string            // input field of the aspect ratio
	autoRatio   string            // wire value for "auto" ("auto", "match_input_image"); "" = send as is
	formatField string            // input field of the output format ("" = not selectable)
	jpeg        string            // wire spelling of jpeg ("jpg" or "jpeg")
	countField  string            // input field of the image count per task ("" = one image per task)
	maxCount    int               // most images one task makes when countField is set
	same        []string          // the Google or OpenAI IDs of the same model, which Request.Model may name
}

// specs are the models this package knows the wire shape of. A model that
// is not listed is sent with its service's generic shape (generic).
var specs = []spec{
	{id: "kie/nano-banana-pro", remote: "nano-banana-pro", refField: "image_input", sizeField: "resolution",
		ratioField: "aspect_ratio", formatField: "output_format", jpeg: "jpg", same: []string{"gemini-3-pro-image", "gemini-3-pro-image-preview"}},
	{id: "kie/nano-banana-2", remote: "nano-banana-2", refField: "image_input", sizeField: "resolution",
		ratioField: "aspect_ratio", formatField: "output_format", jpeg: "jpg", same: []string{"gemini-3.1-flash-image"}},
	{id: "kie/gpt-image-2", remote: "gpt-image-2-text-to-image", editRemote: "gpt-image-2-image-to-image",
		refField: "input_urls", sizeField: "resolution", ratioField: "aspect_ratio"},
	{id: "kie/flux-2-pro", remote: "flux-2/pro-text-to-image", editRemote: "flux-2/pro-image-to-image",
		refField: "input_urls", sizeField: "resolution", ratioField: "aspect_ratio"},
	{id: "replicate/google/nano-banana-pro", remote: "google/nano-banana-pro", refField: "image_input", sizeField: "resolution",
		ratioField: "aspect_ratio", autoRatio: "match_input_image", formatField: "output_format", jpeg: "jpg",
		same: []string{"gemini-3-pro-image", "gemini-3-pro-image-preview"}},
	{id: "replicate/bytedance/seedream-4", remote: "bytedance/seedream-4", refField: "image_input", sizeField: "size",
		ratioField: "aspect_ratio", autoRatio: "match_input_image"},
	{id: "apimart/gemini-3-pro-image-preview", remote: "gemini-3-pro-image-preview", refField: "image_urls", sizeField: "resolution",
		ratioField: "size", countField: "n", maxCount: 4, same: []string{"gemini-3-pro-image", "gemini-3-pro-image-preview"}},
}

// generic is the shape of a model the package does not list: the fields
// most of the service's image models share.
func generic(s Service, id, remote string) spec {
	switch s {
	case ServiceReplicate:
		return spec{id: id, remote: remote, refField: "image_input", ratioField: "aspect_ratio",
			formatField: "output_format", jpeg: "jpg"}
	case ServiceAPIMart:
		return spec{id: id, remote: remote, refField: "image_urls", sizeField: "resolution", ratioField: "size"}
	}
	return spec{id: id, remote: remote, refField: "image_input", sizeField: "resolution", ratioField: "aspect_ratio",
		formatField: "output_format", jpeg: "jpg"}
}

// replicateVersion is a 64-hex version ID, alone or after "owner/name:".
var replicateVersion = regexp.MustCompile(`^(?:([a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*):)?([0-9a-f]{64})$`)

// replicateModel is an official model's "owner/name".
var replicateModel = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// lookupSpec returns the wire shape of a model ID of service s (already
// prefixed): the listed one, or the generic shape with the ID's remote
// part as the service's model name.
func lookupSpec(s Service, id string) spec {
	for _, sp := range specs {
		if sp.id == id {
			return sp
		}
	}
	return generic(s, id, strings.TrimPrefix(id, s.prefix()))
}

// sameAs returns the ID of service s's model that serves the Google or
// OpenAI model named by id ("gemini-3-pro-image" → "kie/nano-banana-pro"),
// or "".
func sameAs(s Service, id string) string {
	for _, sp := range specs {
		if !strings.HasPrefix(sp.id, s.prefix()) {
			continue
		}
		for _, o := range sp.same {
			if o == id {
				return sp.id
			}
		}
	}
	return ""
}
