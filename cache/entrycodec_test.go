package cache

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	e := &Entry{Text: "t", Provider: "p", Model: "m", Usage: provider.Usage{OutputImageTokens: 7}, Cost: 3,
		Warnings: []string{"w"}, Created: time.Unix(100, 0).UTC(), Expires: time.Unix(200, 0).UTC(),
		Images: []provider.Image{{Data: []byte("\x89PNG one"), MIMEType: "image/png"}, {Data: []byte("two"), URL: "https://x/y"}}}
	b, err := AppendEntry([]byte{9}, e)
	if err != nil || b[0] != 9 {
		t.Fatalf("AppendEntry kept no prefix: %v", err)
	}
	got, err := ParseEntry(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if got.Text != "t" || got.Model != "m" || got.Cost != 3 || !got.Expires.Equal(e.Expires) || len(got.Images) != 2 ||
		!bytes.Equal(got.Images[0].Data, e.Images[0].Data) || got.Images[1].URL != "https://x/y" {
		t.Errorf("round trip = %+v", got)
	}
	for _, bad := range [][]byte{nil, {0xff}, b[1 : len(b)-1], append(b[1:len(b):len(b)], 'x')} {
		if _, err := ParseEntry(bad); !errors.Is(err, ErrCorruptEntry) {
			t.Errorf("ParseEntry(%.20q) = %v", bad, err)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	b, _ := AppendEntry(nil, &Entry{Text: "t", Images: []provider.Image{{Data: []byte("abc")}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		again, err := AppendEntry(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseEntry(again); err != nil {
			t.Fatalf("re-encoded entry does not parse: %v", err)
		}
	})
}
