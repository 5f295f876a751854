package datauri

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\nabc")
	std := base64.StdEncoding.EncodeToString(png)
	tests := []struct {
		in   string
		mime string
		ok   bool
	}{
		{"data:image/png;base64," + std, "image/png", true},
		{"DATA:Image/PNG;BASE64," + std, "image/png", true},
		{"data:image/png;base64," + strings.TrimRight(std, "="), "image/png", true},
		{"data:image/png;base64," + std[:8] + "\n" + std[8:], "image/png", true},
		{"data:image/png;charset=x;base64," + std, "image/png", true},
		{"data:image/png," + std, "", false},
		{"data:image/png;base64", "", false},
		{"https://x/y.png", "", false},
		{"data:image/png;base64,@@@", "", false},
	}
	for _, tt := range tests {
		mt, data, err := Decode(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Decode(%.40q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (mt != tt.mime || !bytes.Equal(data, png)) {
			t.Errorf("Decode(%.40q) = %q, %q", tt.in, mt, data)
		}
	}
	url := base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe})
	if _, data, err := Decode("data:image/png;base64," + url); err != nil || !bytes.Equal(data, []byte{0xfb, 0xff, 0xfe}) {
		t.Errorf("URL-safe alphabet: %v %v", data, err)
	}
}

func TestFindLinksAndStrip(t *testing.T) {
	t.Parallel()
	text := "Here is a draft:\n![draft](data:image/png;base64,QUJD)\nand the final one\n![image](data:image/jpeg;base64,REVG \"final\")\n" +
		"hosted: ![img](https://cdn.example/a.png) not an image: ![x](ftp://a) [link](https://b) bare data:image/webp;base64,R0hJ end"
	links := FindLinks(text)
	want := []string{"data:image/png;base64,QUJD", "data:image/jpeg;base64,REVG", "https://cdn.example/a.png", "data:image/webp;base64,R0hJ"}
	if len(links) != len(want) {
		t.Fatalf("found %d links: %+v", len(links), links)
	}
	for i, l := range links {
		if l.URL != want[i] {
			t.Errorf("link %d = %q, want %q", i, l.URL, want[i])
		}
		if text[l.Start:l.End] == "" {
			t.Errorf("link %d has empty span", i)
		}
	}
	if links[0].Alt != "draft" || !links[0].IsData() || links[2].IsData() {
		t.Errorf("alt/IsData wrong: %+v", links)
	}
	got := Strip(text, links)
	wantText := "Here is a draft:\nand the final one\nhosted:  not an image: ![x](ftp://a) [link](https://b) bare  end"
	if got != wantText {
		t.Errorf("Strip = %q\nwant   %q", got, wantText)
	}
}

func FuzzFindLinks(f *testing.F) {
	f.Add("![a](data:image/png;base64,QUJD) text ![b](https://x/y.png)")
	f.Add("![unterminated(data:image/png;base64,")
	f.Add("data:image/png;base64,")
	f.Add("![](<data:image/png;base64,QUJD>)")
	f.Fuzz(func(t *testing.T, text string) {
		links := FindLinks(text)
		prev := 0
		for _, l := range links {
			if l.Start < prev || l.End <= l.Start || l.End > len(text) {
				t.Fatalf("bad span %+v in %q", l, text)
			}
			prev = l.End
			if l.IsData() {
				_, _, _ = Decode(l.URL)
			}
		}
		_ = Strip(text, links)
	})
}
