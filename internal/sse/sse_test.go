package sse

import (
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct{ Name, Data string }

func readAll(t testing.TB, r io.Reader) ([]ev, error) {
	t.Helper()
	s := NewReader(r)
	var out []ev
	for {
		if err := s.Next(); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		b, err := io.ReadAll(s.Data())
		if err != nil {
			return out, err
		}
		out = append(out, ev{s.Event(), string(b)})
	}
}

// reference is the framing rule written the simple way: whole body in
// memory, split into lines, then into events.
func reference(body string) []ev {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	var out []ev
	var name string
	var data []string
	has := false
	flush := func() {
		if has {
			out = append(out, ev{name, strings.Join(data, "\n")})
		}
		name, data, has = "", nil, false
	}
	lines := strings.Split(body, "\n")
	for _, l := range lines {
		if l == "" {
			flush()
			continue
		}
		if l[0] == ':' {
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "data":
			data, has = append(data, v), true
		case "event":
			if len(v) > MaxEventName {
				v = v[:MaxEventName]
			}
			name = v
		}
	}
	flush()
	return out
}

func TestReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       []ev
	}{
		{"openai", "event: image_generation.partial_image\ndata: {\"a\":1}\n\nevent: image_generation.completed\ndata: {\"b\":2}\n\n",
			[]ev{{"image_generation.partial_image", `{"a":1}`}, {"image_generation.completed", `{"b":2}`}}},
		{"crlf", "event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []ev{{"x", "1"}, {"", "2"}}},
		{"cr", "event: x\rdata: 1\r\rdata: 2\r\r", []ev{{"x", "1"}, {"", "2"}}},
		{"multi-line data", "data: a\ndata: b\ndata:c\n\n", []ev{{"", "a\nb\nc"}}},
		{"comments and ids", ": keep-alive\nid: 7\nretry: 100\ndata: x\n: mid\n\n", []ev{{"", "x"}}},
		{"no trailing blank line", "data: last", []ev{{"", "last"}}},
		{"event after data", "data: x\nevent: late\n\n", []ev{{"late", "x"}}},
		{"event without data", "event: ping\n\ndata: y\n\n", []ev{{"", "y"}}},
		{"done", "data: [DONE]\n\n", []ev{{"", "[DONE]"}}},
		{"two spaces", "data:  x\n\n", []ev{{"", " x"}}},
		{"empty", "", nil},
		{"fields without colon", "data\ndata\nevent\n\n", []ev{{"", "\n"}}},
		{"long unknown field", strings.Repeat("z", 100) + ": v\ndata: d\n\n", []ev{{"", "d"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range []io.Reader{strings.NewReader(tc.body), iotest.OneByteReader(strings.NewReader(tc.body))} {
				got, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				if ref := reference(tc.body); !reflect.DeepEqual(ref, tc.want) {
					t.Errorf("reference %q", ref)
				}
			}
		})
	}
}

// TestSkipUnreadData checks that Next skips an event whose data was not
// read, and that a huge data line is streamed in pieces.
func TestSkipUnreadData(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("A", 1<<20)
	s := NewReader(strings.NewReader("data: " + big + "\ndata: more\n\nevent: e\ndata: ok\n\n"))
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	var buf [10]byte
	if n, _ := s.Data().Read(buf[:]); n == 0 {
		t.Fatal("no data")
	}
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(s.Data())
	if string(b) != "ok" || s.Event() != "e" {
		t.Fatalf("got %q %q", s.Event(), b)
	}
	if err := s.Next(); err != io.EOF {
		t.Fatalf("got %v, want EOF", err)
	}
}

func TestReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	s := NewReader(io.MultiReader(strings.NewReader("data: abc"), iotest.ErrReader(boom)))
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(s.Data()); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if err := s.Next(); !errors.Is(err, boom) {
		t.Fatalf("Next after a read error: %v", err)
	}
}

// FuzzReader checks the streaming reader against the reference framing,
// whatever the bytes and however they are split into reads.
func FuzzReader(f *testing.F) {
	f.Add("event: a\ndata: 1\n\ndata: 2\r\n\r\n: c\n", uint8(3))
	f.Add("data: x\rdata: y\r\revent: z\n", uint8(1))
	f.Add("data\n\ndata:\n\n", uint8(0))
	f.Fuzz(func(t *testing.T, body string, chunk uint8) {
		var r io.Reader = strings.NewReader(body)
		if chunk%2 == 1 {
			r = iotest.HalfReader(r)
		}
		if chunk%3 == 0 {
			r = iotest.OneByteReader(r)
		}
		got, err := readAll(t, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(body); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("body %q\ngot  %q\nwant %q", body, got, want)
		}
	})
}

// TestLongLinesNotBuffered: comments, unknown fields, event names and
// data of 16 MiB each are read through without being held: the reader
// allocates its buffer and little else.
func TestLongLinesNotBuffered(t *testing.T) {
	big := strings.Repeat("x", 16<<20)
	body := ":" + big + "\n" + big + ": v\nretry: " + big + "\nevent: " + big + "\ndata: " + big + "\n\ndata: end\n\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := NewReader(strings.NewReader(body))
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if len(s.Event()) != MaxEventName {
		t.Errorf("event name of %d bytes", len(s.Event()))
	}
	n, _ := io.Copy(io.Discard, s.Data())
	if err := s.Next(); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(s.Data())
	runtime.ReadMemStats(&after)
	if n != 16<<20 || string(b) != "end" {
		t.Fatalf("data %d bytes, then %q", n, b)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes reading 80 MiB of long lines", alloc)
	}
}
