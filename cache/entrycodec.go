package cache

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// ErrCorruptEntry is returned by ParseEntry for bytes AppendEntry did not
// write; stores drop such entries and report a miss.
var ErrCorruptEntry = errors.New("cache: corrupt entry")

// entryHeader is the JSON header of an encoded entry; the image bytes
// follow it raw, so a 1 MiB image costs 1 MiB, not base64's 1.33.
type entryHeader struct {
	Images   []imageHeader  `json:"images"`
	Text     string         `json:"text,omitempty"`
	Provider string         `json:"provider,omitempty"`
	Model    string         `json:"model,omitempty"`
	Usage    provider.Usage `json:"usage"`
	Cost     provider.USD   `json:"cost"`
	Warnings []string       `json:"warnings,omitempty"`
	Created  time.Time      `json:"created"`
	Expires  time.Time      `json:"expires,omitzero"`
}

type imageHeader struct {
	Len           int    `json:"len"`
	MIMEType      string `json:"mime,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

// AppendEntry appends the portable encoding of e to buf: the header's
// length as a uvarint, a JSON header (metadata and image lengths), then the
// image bytes. Stores add their own framing around it (the disk store a
// magic and a checksum, the Redis store a version byte).
func AppendEntry(buf []byte, e *Entry) ([]byte, error) {
	h := entryHeader{Text: e.Text, Provider: e.Provider, Model: e.Model, Usage: e.Usage, Cost: e.Cost,
		Warnings: e.Warnings, Created: e.Created, Expires: e.Expires}
	size := 0
	for _, im := range e.Images {
		h.Images = append(h.Images, imageHeader{Len: len(im.Data), MIMEType: im.MIMEType, URL: im.URL, RevisedPrompt: im.RevisedPrompt})
		size += len(im.Data)
	}
	meta, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	buf = slices.Grow(buf, binary.MaxVarintLen64+len(meta)+size)
	buf = binary.AppendUvarint(buf, uint64(len(meta)))
	buf = append(buf, meta...)
	for _, im := range e.Images {
		buf = append(buf, im.Data...)
	}
	return buf, nil
}

// ParseEntry reads what AppendEntry wrote. Image bytes alias b.
func ParseEntry(b []byte) (*Entry, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, ErrCorruptEntry
	}
	b = b[w:]
	var h entryHeader
	if err := json.Unmarshal(b[:n], &h); err != nil {
		return nil, ErrCorruptEntry
	}
	data := b[n:]
	e := &Entry{Text: h.Text, Provider: h.Provider, Model: h.Model, Usage: h.Usage, Cost: h.Cost,
		Warnings: h.Warnings, Created: h.Created, Expires: h.Expires}
	for _, im := range h.Images {
		if im.Len < 0 || im.Len > len(data) {
			return nil, ErrCorruptEntry
		}
		e.Images = append(e.Images, provider.Image{Data: data[:im.Len:im.Len], MIMEType: im.MIMEType, URL: im.URL, RevisedPrompt: im.RevisedPrompt})
		data = data[im.Len:]
	}
	if len(data) != 0 {
		return nil, ErrCorruptEntry
	}
	return e, nil
}
