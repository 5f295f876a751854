package main

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // register decoders for dims
	_ "image/png"
)

// dims returns "WxH" of encoded image bytes, or "?".
func dims(b []byte) string {
	c, _, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%dx%d", c.Width, c.Height)
}
