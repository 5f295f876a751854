package imagen

import (
	"bytes"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/provider"
)

// DecodePredict exposes the parser of HTTP 200 :predict answers to the
// tests, with the streaming decoder in front as in a real call.
func (g *Generator) DecodePredict(body []byte) (*provider.Response, error) {
	data, res, err := jsonimg.Read(bytes.NewReader(body), int64(len(body)), 0, jsonimg.Imagen, answer.MaxJSON)
	if err == nil {
		err = answer.CheckObject(data)
	}
	if err != nil {
		code, msg, _ := answer.Classify(err, nil)
		if code == "" {
			code, msg = answer.CodeMalformed, err.Error()
		}
		return nil, answer.Error(code, msg, 200)
	}
	return g.decodePredict(g.model, data, res)
}
