package jsonimg

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// restoreAll decodes a rewritten answer and puts every payload back as
// base64 text, for comparison with the original.
func restoreAll(t testing.TB, res *Result) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(res.JSON, &v); err != nil {
		t.Fatalf("rewritten JSON does not decode: %v\n%.300s", err, res.JSON)
	}
	return walk(v, res.Restore)
}

func walk(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		for i := range x {
			x[i] = walk(x[i], f)
		}
	case map[string]any:
		for k := range x {
			x[k] = walk(x[k], f)
		}
	}
	return v
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// check rewrites body with and without a size hint, through a reader that
// returns one byte at a time too, and checks the payloads and the
// round trip.
func check(t *testing.T, schema Schema, body string, want ...[]byte) *Result {
	t.Helper()
	var first *Result
	for _, mode := range []string{"hint", "nohint", "onebyte", "smallhint", "guess", "shortguess", "tinyguess", "longguess"} {
		var r io.Reader = strings.NewReader(body)
		hint := int64(len(body))
		switch mode {
		case "nohint":
			hint = -1
		case "onebyte":
			r = iotest.OneByteReader(r)
		case "smallhint":
			hint = 10
		case "shortguess":
			hint = int64(len(body)) / 3
		case "tinyguess":
			hint = 10
		case "longguess":
			hint = 2 * int64(len(body))
		}
		var res *Result
		var err error
		if strings.HasSuffix(mode, "guess") {
			res, err = RewriteGuess(iotest.OneByteReader(r), hint, schema, 0)
		} else {
			res, err = Rewrite(r, hint, schema)
		}
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		var got [][]byte
		for _, p := range res.Payloads {
			if p.Data != nil {
				got = append(got, p.Data)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d payloads, want %d\n%s", mode, len(got), len(want), res.JSON)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: payload %d differs (%d vs %d bytes)", mode, i, len(got[i]), len(want[i]))
			}
		}
		if back, orig := restoreAll(t, res), decodeAny(t, []byte(body)); !reflect.DeepEqual(back, orig) {
			t.Fatalf("%s: round trip differs\n got %v\nwant %v", mode, back, orig)
		}
		if first == nil {
			first = res
		}
	}
	return first
}

func TestGeminiShapes(t *testing.T) {
	t.Parallel()
	a, b, d := randBytes(70000, 1), randBytes(5001, 2), randBytes(300, 3)
	esc := strings.ReplaceAll(strings.ReplaceAll(b64(b), "/", `\/`), "+", `\u002b`)
	body := `{"candidates":[{"content":{"role":"model","parts":[` +
		`{"text":"thinking","thought":true},` +
		`{"thought":true,"inlineData":{"data":"` + b64(d) + `","mimeType":"image/png"}},` +
		`{"inlineData":{"data":"` + esc + `","mimeType":"image/jpeg"},"thoughtSignature":"c2ln"},` +
		"\n  { \"inlineData\" : { \"mimeType\" : \"image/png\" , \"data\" : \"" + b64(a) + "\" } , \"extra\": [1, -2.5e3, null, true, {\"x\":\"\\\"\"}] }" +
		`,{"text":"here ![image](data:image/png;base64,` + b64(d) + `) and text"}` +
		`]},"finishReason":"STOP","unknown":{"data":"` + b64(d) + `"}}],"usageMetadata":{"promptTokenCount":10},"inlineData":{"data":"QUJD"}}`
	res := check(t, Gemini, body, d, b, a, d)
	// The unknown field and the top-level inlineData stay as they were.
	if !bytes.Contains(res.JSON, []byte(`"unknown":{"data":"`+b64(d)+`"}`)) || !bytes.Contains(res.JSON, []byte(`"inlineData":{"data":"QUJD"}`)) {
		t.Fatalf("non-target fields changed:\n%s", res.JSON)
	}
	if len(res.JSON) > 1200 {
		t.Fatalf("rewritten JSON is %d bytes", len(res.JSON))
	}
	// genai-style decoding of the whole field gives the marker bytes.
	var g struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					InlineData *struct{ Data []byte } `json:"inlineData"`
					Text       string
				}
			}
		}
	}
	if err := json.Unmarshal(res.JSON, &g); err != nil {
		t.Fatal(err)
	}
	pl, ok := res.Lookup(g.Candidates[0].Content.Parts[3].InlineData.Data)
	if !ok || !bytes.Equal(pl.Data, a) {
		t.Fatal("marker of part 3 does not map to its payload")
	}
	if txt := g.Candidates[0].Content.Parts[4].Text; !strings.HasPrefix(txt, "here ![image](data:image/png;base64,"+res.Prefix()) || !strings.HasSuffix(txt, ") and text") {
		t.Fatalf("text %q", txt)
	}
}

func TestOpenAIShapes(t *testing.T) {
	t.Parallel()
	a, b, c := randBytes(40000, 4), randBytes(1234, 5), randBytes(2, 6)
	images := `{"created":1,"data":[{"b64_json":"` + b64(a) + `","revised_prompt":"x"},{"url":"data:image/png;base64,` + b64(b) + `"},{"b64_json":"` + b64(c) + `"}],"usage":{"input_tokens":3}}`
	check(t, OpenAI, images, a, b, c)

	chat := `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Here\n\n![draft](data:image/png;base64,` + b64(c) + `)\n\n![image](DATA:IMAGE/PNG;BASE64,` + b64(a) + ` \"title\")","images":[{"type":"image_url","image_url":{"url":"data:image/webp;base64,` + b64(b) + `"}}]},"finish_reason":"stop"}]}`
	check(t, OpenAI, chat, c, a, b)

	arr := `{"choices":[{"message":{"content":[{"type":"text","text":"hi data:image/gif;base64,` + b64(b) + `"},{"type":"image_url","image_url":"data:image/png;base64,` + b64(a) + `"},"data:image/png;base64,` + b64(c) + `",{"type":"output_image","b64_json":"` + b64(b) + `"}],"refusal":"data:image/png;base64,` + b64(c) + `"}}]}`
	res := check(t, OpenAI, arr, b, a, c, b)
	if !bytes.Contains(res.JSON, []byte(`"refusal":"data:image/png;base64,`+b64(c)+`"`)) {
		t.Fatal("refusal was rewritten")
	}
}

func TestLeftAlone(t *testing.T) {
	t.Parallel()
	a := randBytes(3000, 7)
	s := b64(a)
	for _, tc := range []struct{ name, body string }{
		{"urlsafe", `{"data":[{"b64_json":"` + base64.URLEncoding.EncodeToString(a) + `"}]}`},
		{"unpadded whole field", `{"data":[{"b64_json":"` + base64.RawStdEncoding.EncodeToString(a[:2999]) + `"}]}`},
		{"line breaks", `{"data":[{"b64_json":"` + s[:400] + `\n` + s[400:] + `"}]}`},
		{"pad bits", `{"data":[{"b64_json":"QUI="}]}`[:0] + `{"data":[{"b64_json":"QUJ="}]}`},
		{"stray", `{"data":[{"b64_json":"` + s[:100] + `*` + s[100:] + `"}]}`},
		{"empty", `{"data":[{"b64_json":""}]}`},
		{"run followed by text", `{"choices":[{"message":{"content":"![a](data:image/png;base64,` + s + ` xyz)"}}]}`},
		{"run then bracket", `{"choices":[{"message":{"content":"data:image/png;base64,` + s + `]"}}]}`},
		{"not image", `{"choices":[{"message":{"content":"data:text/plain;base64,` + s + `"}}]}`},
		{"wrong path", `{"candidates":[{"content":{"parts":[{"inlineData":{"blob":"` + s + `"}}]}}],"data":[{"b64_json":"` + s + `"}]}`},
		{"padding then more", `{"data":[{"b64_json":"QUI=QUJD"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema := OpenAI
			if strings.HasPrefix(tc.body, `{"candidates"`) {
				schema = Gemini
			}
			res, err := Rewrite(strings.NewReader(tc.body), int64(len(tc.body)), schema)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(decodeAny(t, res.JSON), decodeAny(t, []byte(tc.body))) {
				t.Fatalf("changed:\n%s\n%s", res.JSON, tc.body)
			}
		})
	}
	// An unpadded run in text is fine, and restored without padding.
	body := `{"choices":[{"message":{"content":"data:image/png;base64,` + base64.RawStdEncoding.EncodeToString(a[:2999]) + `"}}]}`
	check(t, OpenAI, body, a[:2999])
	// Whitespace then a title or the closing parenthesis keeps the marker.
	check(t, OpenAI, `{"choices":[{"message":{"content":"![a](data:image/png;base64,`+s+`  )"}}]}`, a)
}

func TestErrors(t *testing.T) {
	t.Parallel()
	body := `{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64(randBytes(999, 8)) + `"}},{"text":"a\u00e9b ![x](data:image/png;base64,QUJD)"}]}}],"n":[1.5e+3,true,false,null]}`
	for i := 0; i < len(body); i++ {
		for _, hint := range []int64{int64(len(body)), -1} {
			res, err := Rewrite(strings.NewReader(body[:i]), hint, Gemini)
			if i == 0 {
				if err != nil || len(res.JSON) != 0 {
					t.Fatalf("empty body: %v", err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("prefix %d accepted", i)
			}
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("prefix %d: %v", i, err)
			}
		}
	}
	for _, bad := range []string{`{"a":tru}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{a:1}`, `{"a":"\u12G4"}`, `]`} {
		if _, err := Rewrite(strings.NewReader(bad), -1, OpenAI); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	boom := errors.New("boom")
	if _, err := Rewrite(io.MultiReader(strings.NewReader(`{"data":[{"b64_json":"QUJD`), iotest.ErrReader(boom)), -1, OpenAI); !errors.Is(err, boom) {
		t.Fatalf("read error: %v", err)
	}
}

// One payload with a size hint costs one allocation of about its size.
func TestAllocationWithHint(t *testing.T) {
	img := randBytes(4<<20, 9)
	body := []byte(`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64(img) + `"}}]}}]}`)
	var res *Result
	allocs := testing.AllocsPerRun(3, func() {
		var err error
		res, err = Rewrite(bytes.NewReader(body), int64(len(body)), Gemini)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 12 {
		t.Errorf("%v allocations", allocs)
	}
	if c := cap(res.Payloads[0].Data); c != len(img) {
		t.Errorf("payload capacity %d", c)
	}
}

// A guess that proves short costs what no guess costs: the payload is
// copied once from the arena and chunks into a slice of its own.
func TestGuessSpills(t *testing.T) {
	img := randBytes(4<<20, 11)
	body := []byte(`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + b64(img) + `"}}]}}]}`)
	for _, guess := range []int64{int64(len(body)), int64(len(body)) / 2, 1 << 10} {
		res, err := RewriteGuess(bytes.NewReader(body), guess, Gemini, 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Payloads[0].Data; !bytes.Equal(d, img) || cap(d) != len(d) {
			t.Fatalf("guess %d: payload of %d bytes, cap %d", guess, len(d), cap(d))
		}
	}
}

func FuzzRewrite(f *testing.F) {
	img := b64(randBytes(100, 10))
	for _, s := range []string{
		`{"candidates":[{"content":{"parts":[{"inlineData":{"data":"` + img + `","mimeType":"image/png"}}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"thought":true,"inlineData":{"mimeType":"image/png","data":"QUJD\/\u002b+/w=="}},{"inlineData":{"data":"` + img + `"}}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"![i](data:image/png;base64,QU\/D) data:image/jpeg;base64,` + img + `"}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"inlineData":{"data":"` + img[:50],
		`{"data":[{"b64_json":"` + img + `"},{"url":"data:image/png;base64,QUJD"}],"usage":{"input_tokens":1}}`,
		`{"choices":[{"message":{"content":"x ![a](data:image/png;base64,` + img + ` \"t\")","images":[{"image_url":{"url":"data:image/png;base64,QUJDRA=="}}]}}]}`,
		`{"choices":[{"message":{"content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}},"data:image/png;base64,QQ",{"b64_json":"QUI="}]}}]}`,
		`{"data":[{"b64_json":"QUJ="}]} trailing`,
		`{"data":[{"b64_json":"QUJD\nQUJD"}]}`,
		`[1,2,{"a":"\ud83d\ude00"}]`, ``, ` `, `"x"`, `-0.5e-3`,
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(3))
		f.Add([]byte(s), uint8(8))
		f.Add([]byte(s), uint8(9))
		f.Add([]byte(s), uint8(16))
	}
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		schema := []Schema{Gemini, OpenAI, Imagen, GeminiBatch}[(mode&1)|(mode>>2&2)]
		hint := int64(len(body))
		if mode&2 != 0 {
			hint = -1
		}
		var v any
		origErr := json.Unmarshal(body, &v)
		rewrite := Rewrite
		if mode&16 != 0 { // a guess of half the body: payloads spill to chunks
			rewrite = func(r io.Reader, _ int64, s Schema) (*Result, error) {
				return RewriteGuess(r, int64(len(body))/2+1, s, 0)
			}
		}
		res, err := rewrite(bytes.NewReader(body), hint, schema)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			if origErr == nil {
				t.Fatalf("valid body rejected: %v", err)
			}
			return
		}
		var w any
		newErr := json.Unmarshal(res.JSON, &w)
		if (origErr == nil) != (newErr == nil) {
			t.Fatalf("validity changed: original %v, rewritten %v\n%q\n%q", origErr, newErr, body, res.JSON)
		}
		if origErr != nil {
			return
		}
		if back := walk(w, res.Restore); !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip differs\n%q\n%q", body, res.JSON)
		}
		for i, p := range res.Payloads {
			if p.Data != nil && !bytes.Contains(res.JSON, res.appendMarker(nil, i)) {
				t.Fatalf("payload %d has no marker", i)
			}
		}
	})
}

func TestImagenAndBatchSchemas(t *testing.T) {
	t.Parallel()
	img := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 1, 2, 3}, 50))
	tests := []struct {
		schema Schema
		body   string
		n      int
	}{
		{Imagen, `{"predictions":[{"bytesBase64Encoded":"` + img + `","mimeType":"image/png"},{"raiFilteredReason":"x"},{"bytesBase64Encoded":"` + img + `"}]}`, 2},
		{Imagen, `{"other":{"bytesBase64Encoded":"` + img + `"}}`, 0},
		{GeminiBatch, `{"name":"batches/1","metadata":{"output":{"inlinedResponses":{"inlinedResponses":[{"response":{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"` + img + `"}}]}}]},"metadata":{"key":"a"}}]}}},"response":{"inlinedResponses":{"inlinedResponses":[{"response":{"candidates":[{"content":{"parts":[{"inlineData":{"data":"` + img + `"}}]}}]}}]}}}`, 2},
		{GeminiBatch, `{"candidates":[{"content":{"parts":[{"inlineData":{"data":"` + img + `"}}]}}]}`, 0},
	}
	for i, tt := range tests {
		res, err := Rewrite(strings.NewReader(tt.body), -1, tt.schema)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if len(res.Payloads) != tt.n {
			t.Errorf("%d: %d payloads, want %d", i, len(res.Payloads), tt.n)
		}
		var a, b any
		if json.Unmarshal(res.JSON, &a) != nil || json.Unmarshal([]byte(tt.body), &b) != nil {
			t.Fatalf("%d: rewritten JSON does not decode", i)
		}
	}
}

func TestRewriteLimitCapsTheJSON(t *testing.T) {
	t.Parallel()
	body := `{"data":[{"b64_json":"QUJD","revised_prompt":"` + strings.Repeat("long text ", 1<<20) + `"}]}`
	if _, err := RewriteLimit(strings.NewReader(body), -1, OpenAI, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
	if res, err := RewriteLimit(strings.NewReader(body), -1, OpenAI, 16<<20); err != nil || len(res.JSON) < 10<<20 {
		t.Errorf("under the cap: %v", err)
	}
}
