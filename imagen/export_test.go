package imagen

import "github.com/imagegen-go/imagegen/provider"

// DecodePredict exposes the parser of HTTP 200 :predict answers to the
// fuzz test.
func (g *Generator) DecodePredict(body []byte) (*provider.Response, error) {
	return g.decodePredict(g.model, body)
}
