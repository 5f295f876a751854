package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"

	"github.com/imagegen-go/imagegen/internal/answer"
	"github.com/imagegen-go/imagegen/internal/jsonimg"
	"github.com/imagegen-go/imagegen/internal/sse"
)

// sseBufferSize is the read buffer of a stream: a line longer than it (an
// image's base64) flows through it to the decoder, never whole.
const sseBufferSize = 64 << 10

// sseReducer turns a streamGenerateContent body (server-sent events, one
// GenerateContentResponse per event) into the same stream with every
// image payload taken out as it arrives (internal/jsonimg): genai parses
// only the small JSON left, one compact `data:` line per event, while the
// images go straight into their byte slices. Events are read one at a
// time, when genai asks for more bytes, so a draft reaches the caller
// before the next event is read.
//
// Whatever ends the stream early (an error envelope, malformed JSON, a
// read error, the caps) is kept in err and genai sees a clean end: genai
// logs stream errors with the standard logger, and its words are not
// ours to print.
type sseReducer struct {
	src      *bufio.Reader
	body     io.Closer
	jsonCap  int64 // the JSON left around the payloads, over the whole stream
	jsonUsed int64

	out    []byte  // the reduced event not yet read by genai
	events []*wire // events handed to genai, in order, not yet taken
	err    error   // why the stream ended early, or nil
	done   bool    // the body ended or failed
	begun  bool    // the body's first byte was looked at
	sr     *sse.Reader
	// hint is the size of the last event that held an image: the next
	// one's is likely the same (Google: "the last image within Thinking
	// is also the final rendered image"), so its payload is decoded into
	// one slice of about that size instead of chunks copied at the end.
	hint int64
}

func newSSEReducer(body io.ReadCloser, jsonCap int64) *sseReducer {
	return &sseReducer{src: bufio.NewReaderSize(body, sseBufferSize), body: body, jsonCap: jsonCap}
}

// Read implements io.Reader for genai.
func (s *sseReducer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.done {
			return 0, io.EOF
		}
		s.next()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// Close closes the body.
func (s *sseReducer) Close() error { return s.body.Close() }

// take returns what was read beside genai of the oldest event handed to
// genai and not yet taken: the one genai's latest chunk was decoded from.
func (s *sseReducer) take() *wire {
	if len(s.events) == 0 {
		return nil
	}
	ev := s.events[0]
	s.events[0] = nil // the payloads belong to the caller now
	s.events = s.events[1:]
	return ev
}

// fail ends the stream with err.
func (s *sseReducer) fail(err error) {
	if s.err == nil {
		s.err = err
	}
	s.done = true
	_ = s.body.Close()
}

// next reads the next event into s.out, or ends the stream.
func (s *sseReducer) next() {
	var src io.Reader
	if !s.begun {
		s.begun = true
		switch s.firstByte() {
		case '{':
			// A relay that ignored alt=sse and answered one JSON object:
			// the whole body is the one event.
			src = s.src
			s.done = true
		case '[':
			s.fail(answer.Malformed("a JSON array (a stream without alt=sse), not server-sent events"))
			return
		}
	}
	var event *countingReader
	if src == nil {
		if s.sr == nil {
			s.sr = sse.NewReader(s.src) // shares s.src's buffer (same size)
		}
		if err := s.sr.Next(); err != nil {
			if err != io.EOF {
				s.fail(err)
			}
			s.done = true
			return
		}
		event = &countingReader{r: s.sr.Data()}
		var head [8]byte
		n, err := io.ReadFull(event, head[:])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			s.fail(err)
			return
		}
		if err != nil && string(bytes.TrimSpace(head[:n])) == "[DONE]" {
			// A relay's OpenAI-style end marker: Google sends none.
			s.done = true
			return
		}
		src = io.MultiReader(bytes.NewReader(head[:n]), event)
	}
	left := s.jsonCap - s.jsonUsed
	if s.jsonCap <= 0 {
		left = 0
	} else if left <= 0 {
		left = 1 // any JSON at all is over the cap
	}
	hint := int64(0)
	if s.hint > 0 {
		hint = s.hint + 4<<10 // the JSON around the image may grow a little
	}
	res, err := jsonimg.RewriteGuess(src, hint, jsonimg.Gemini, left)
	if event != nil && event.err != nil {
		err = event.err // the read error, not the JSON it cut short
	}
	if err != nil {
		s.fail(err)
		return
	}
	s.jsonUsed += int64(len(res.JSON))
	if t := bytes.TrimSpace(res.JSON); len(t) == 0 || t[0] != '{' {
		s.fail(answer.CheckObject(res.JSON)) // not an object: say what it is
		return
	}
	if err := errorIn200(res.JSON); err != nil {
		s.fail(err)
		return
	}
	if event != nil && len(res.Payloads) > 0 {
		s.hint = event.n
	}
	w := &wire{seen: true, streamed: res, arena: hint}
	data := w.read(res.JSON)
	if w.nullCandidate > 0 {
		s.fail(answer.Malformed("candidates[%d] is null", w.nullCandidate-1))
		return
	}
	// One line per event, whatever whitespace the JSON had: genai's
	// scanner cuts events at a blank line and takes one `data:` field.
	var buf bytes.Buffer
	buf.Grow(len(data) + 8)
	buf.WriteString("data: ")
	// Compact validates the event; CheckObject's second pass is made only
	// when it fails, for its wording.
	if err := json.Compact(&buf, data); err != nil {
		if cerr := answer.CheckObject(res.JSON); cerr != nil {
			s.fail(cerr)
		} else {
			s.fail(&answer.MalformedError{Why: "invalid JSON", Err: err})
		}
		return
	}
	buf.WriteString("\n\n")
	s.out = buf.Bytes()
	s.events = append(s.events, w)
}

// firstByte returns the body's first byte that is not JSON whitespace,
// without consuming it, or 0.
func (s *sseReducer) firstByte() byte {
	for {
		b, _ := s.src.Peek(1)
		if len(b) == 0 {
			return 0
		}
		if !isJSONSpace(b[0]) {
			return b[0]
		}
		_, _ = s.src.Discard(1)
	}
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// countingReader counts the bytes of an event's data and keeps a read
// error other than EOF.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}
