package jsonimg

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"
)

const (
	bufSize  = 64 << 10 // read buffer
	maxDepth = 10000    // as encoding/json
	// maxArena caps the first allocation made from a size hint, so that a
	// server announcing a huge Content-Length cannot make us allocate it
	// up front; real data beyond it still fits (the arena grows).
	maxArena   = 64 << 20
	minChunk   = 3 << 14 // 48 KiB: holds the decoding of a full read buffer
	maxChunk   = 3 << 18 // 768 KiB: bounds the slack of the last chunk
	windowSize = 96      // characters kept to recognise a data URI prefix
)

var (
	strictStd = base64.StdEncoding.Strict()
	strictRaw = base64.RawStdEncoding.Strict()
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// vctx is what a container or value is, as far as the schema cares.
type vctx uint8

const (
	cNone vctx = iota
	// Gemini: root, candidates[], candidate, content, parts[], part, inlineData
	cGRoot
	cGCands
	cGCand
	cGContent
	cGParts
	cGPart
	cGInline
	// OpenAI: root, data[], data item, choices[], choice, under message,
	// a content array
	cORoot
	cOData
	cODataItem
	cOChoices
	cOChoice
	cOMsg
	cOContentArr
	// Imagen :predict: root, predictions[], prediction
	cIRoot
	cIPreds
	cIPred
	// Gemini batch job: root, metadata / response / output, the
	// inlinedResponses wrapper, its list, one item (whose response is a
	// generateContent answer)
	cBRoot
	cBWrap
	cBInl
	cBInlArr
	cBItem
)

// role says what to do with a string value.
type role uint8

const (
	rNone  role = iota // copy
	rWhole             // the whole string is base64
	rText              // text that may hold data:image/…;base64, runs
)

type keyID uint8

const (
	kOther keyID = iota
	kCandidates
	kContent
	kParts
	kInlineData
	kData
	kText
	kB64JSON
	kURL
	kChoices
	kMessage
	kImageURL
	kPredictions
	kBytesB64
	kMetadata
	kResponse
	kOutput
	kInlinedResponses
)

var keyNames = []struct {
	name string
	id   keyID
}{
	{"candidates", kCandidates}, {"content", kContent}, {"parts", kParts}, {"inlinedata", kInlineData},
	{"data", kData}, {"text", kText}, {"b64_json", kB64JSON}, {"url", kURL}, {"choices", kChoices},
	{"message", kMessage}, {"image_url", kImageURL}, {"predictions", kPredictions}, {"bytesbase64encoded", kBytesB64},
	{"metadata", kMetadata}, {"response", kResponse}, {"output", kOutput}, {"inlinedresponses", kInlinedResponses},
}

type frame struct {
	obj bool
	ctx vctx
	key keyID // the key of the member being parsed
}

type parser struct {
	r      io.Reader
	bufp   *[]byte
	buf    []byte
	pos    int
	end    int
	base   int64 // body offset of buf[0]
	eof    bool
	rerr   error
	hint   int64
	schema Schema

	out   []byte
	stack []frame
	res   *Result

	// payload under construction: an arena (with a size hint) or chunks
	useArena bool
	guess    bool // the hint is a guess: spill to chunks when it proves short
	arena    []byte
	mark     int
	arenaGen int
	chunks   [][]byte
	nchunk   int

	win  [windowSize]byte // lower-cased recent characters of a text string
	winN int
	key  [24]byte

	maxJSON int64 // cap on len(out); 0 = none
}

func newParser(r io.Reader, hint int64, schema Schema) *parser {
	bp := bufPool.Get().(*[]byte)
	p := &parser{r: r, bufp: bp, buf: *bp, hint: hint, schema: schema, res: newResult(), useArena: hint > 0}
	p.out = make([]byte, 0, 4<<10)
	p.stack = make([]frame, 0, 16)
	return p
}

func (p *parser) release() {
	if p.bufp != nil {
		bufPool.Put(p.bufp)
		p.bufp, p.buf = nil, nil
	}
	p.chunks = nil
}

func (p *parser) offset() int64 { return p.base + int64(p.pos) }

// errJSONTooLarge is the read error fill reports once out passes maxJSON.
var errJSONTooLarge = fmt.Errorf("%w: the JSON around the images passed its cap", ErrTooLarge)

// fits reports whether n more bytes of out stay within maxJSON; when they
// do not, it ends the parse with ErrTooLarge.
func (p *parser) fits(n int) bool {
	if p.maxJSON > 0 && int64(len(p.out))+int64(n) > p.maxJSON {
		p.eof, p.rerr = true, errJSONTooLarge
		return false
	}
	return true
}

// reserve doubles out's capacity once it is large and nearly full. out
// grows no faster than the body is read (between two fills, by about one
// read buffer), so append rarely reallocates it: without this, append's
// 1.25x steps for large slices leave behind garbage about four times the
// final size before the collector catches up, which a 32 MiB JSON of junk
// text turns into 160 MiB of heap.
func (p *parser) reserve() {
	const from = 1 << 20
	if len(p.out) < from || cap(p.out)-len(p.out) >= 4*bufSize {
		return
	}
	n := 2 * cap(p.out)
	if p.maxJSON > 0 {
		n = int(min(int64(n), p.maxJSON+4*bufSize))
	}
	if n <= cap(p.out) {
		return
	}
	out := make([]byte, len(p.out), n)
	copy(out, p.out)
	p.out = out
}

// fill reads more of the body; false at the end or on a read error.
func (p *parser) fill() bool {
	if p.eof {
		return false
	}
	if !p.fits(0) {
		return false
	}
	p.reserve()
	if p.pos == p.end {
		p.base += int64(p.end)
		p.pos, p.end = 0, 0
	} else if p.end == len(p.buf) {
		copy(p.buf, p.buf[p.pos:p.end])
		p.base += int64(p.pos)
		p.end -= p.pos
		p.pos = 0
	}
	for {
		n, err := p.r.Read(p.buf[p.end:])
		if n < 0 || n > len(p.buf)-p.end {
			p.eof, p.rerr = true, errors.New("jsonimg: reader returned an invalid count")
			return false
		}
		p.end += n
		if err != nil {
			p.eof = true
			if err != io.EOF {
				p.rerr = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// ensure makes n bytes available at pos; false if the body ends first.
func (p *parser) ensure(n int) bool {
	for p.end-p.pos < n {
		if p.end == len(p.buf) && p.pos > 0 {
			copy(p.buf, p.buf[p.pos:p.end])
			p.base += int64(p.pos)
			p.end -= p.pos
			p.pos = 0
		}
		if !p.fill() {
			return false
		}
	}
	return true
}

func (p *parser) eofErr() error {
	if p.rerr != nil {
		return fmt.Errorf("jsonimg: reading body: %w", p.rerr)
	}
	return &SyntaxError{Offset: p.offset(), Msg: "unexpected end of input", Err: io.ErrUnexpectedEOF}
}

func (p *parser) syntax(format string, args ...any) error {
	return &SyntaxError{Offset: p.offset(), Msg: fmt.Sprintf(format, args...)}
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipWS skips whitespace between tokens; false at the end of the body.
func (p *parser) skipWS() bool {
	for {
		for p.pos < p.end {
			if !isWS(p.buf[p.pos]) {
				return true
			}
			p.pos++
		}
		if !p.fill() {
			return false
		}
	}
}

func (p *parser) run() error {
	if !p.skipWS() {
		if p.rerr != nil || p.offset() > 0 {
			return p.eofErr()
		}
		return nil // empty body
	}
	root := cNone
	switch p.schema {
	case Gemini:
		root = cGRoot
	case OpenAI:
		root = cORoot
	case Imagen:
		root = cIRoot
	case GeminiBatch:
		root = cBRoot
	}
	if err := p.document(root); err != nil {
		return err
	}
	// Whatever follows the top-level value is the consumers' business.
	for {
		p.out = append(p.out, p.buf[p.pos:p.end]...)
		p.pos = p.end
		if !p.fill() {
			break
		}
	}
	if p.rerr == nil {
		p.fits(0)
	}
	if p.rerr != nil {
		return fmt.Errorf("jsonimg: reading body: %w", p.rerr)
	}
	return nil
}

// document parses one JSON value iteratively.
func (p *parser) document(root vctx) error {
	ctx, rl := root, rNone
	for {
		// A value.
		if !p.skipWS() {
			return p.eofErr()
		}
		switch c := p.buf[p.pos]; {
		case c == '{' || c == '[':
			if len(p.stack) >= maxDepth {
				return p.syntax("exceeded max depth")
			}
			p.pos++
			p.out = append(p.out, c)
			p.stack = append(p.stack, frame{obj: c == '{', ctx: ctx})
			if !p.skipWS() {
				return p.eofErr()
			}
			if d := p.buf[p.pos]; (c == '{' && d == '}') || (c == '[' && d == ']') {
				p.pos++
				p.out = append(p.out, d)
				p.stack = p.stack[:len(p.stack)-1]
				break
			}
			var err error
			if ctx, rl, err = p.next(); err != nil {
				return err
			}
			continue
		case c == '"':
			p.pos++
			p.out = append(p.out, '"')
			if err := p.str(rl); err != nil {
				return err
			}
		case c == 't':
			if err := p.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := p.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := p.literal("null"); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := p.number(); err != nil {
				return err
			}
		default:
			return p.syntax("invalid character %q looking for a value", c)
		}
		// After a value: a comma, or the end of containers.
		for {
			if len(p.stack) == 0 {
				return nil
			}
			top := &p.stack[len(p.stack)-1]
			if !p.skipWS() {
				return p.eofErr()
			}
			c := p.buf[p.pos]
			if c == ',' {
				p.pos++
				p.out = append(p.out, ',')
				if !p.skipWS() {
					return p.eofErr()
				}
				var err error
				if ctx, rl, err = p.next(); err != nil {
					return err
				}
				break
			}
			if (top.obj && c == '}') || (!top.obj && c == ']') {
				p.pos++
				p.out = append(p.out, c)
				p.stack = p.stack[:len(p.stack)-1]
				continue
			}
			if top.obj {
				return p.syntax("invalid character %q after object member", c)
			}
			return p.syntax("invalid character %q after array element", c)
		}
	}
}

// next starts the next member or element of the top container: for an
// object it reads the key and colon. It returns the context and role of
// the value that follows.
func (p *parser) next() (vctx, role, error) {
	top := &p.stack[len(p.stack)-1]
	if !top.obj {
		c, r := p.child(top, kOther)
		return c, r, nil
	}
	if p.buf[p.pos] != '"' {
		return 0, 0, p.syntax("invalid character %q looking for an object key", p.buf[p.pos])
	}
	p.pos++
	p.out = append(p.out, '"')
	k, err := p.keyString()
	if err != nil {
		return 0, 0, err
	}
	if !p.skipWS() {
		return 0, 0, p.eofErr()
	}
	if p.buf[p.pos] != ':' {
		return 0, 0, p.syntax("invalid character %q after object key", p.buf[p.pos])
	}
	p.pos++
	p.out = append(p.out, ':')
	top.key = k
	c, r := p.child(top, k)
	return c, r, nil
}

// child returns the context (for a container) and role (for a string) of
// a value inside top at key k (kOther for array elements).
func (p *parser) child(top *frame, k keyID) (vctx, role) {
	if top.obj {
		switch top.ctx {
		case cGRoot:
			if k == kCandidates {
				return cGCands, rNone
			}
		case cGCand:
			if k == kContent {
				return cGContent, rNone
			}
		case cGContent:
			if k == kParts {
				return cGParts, rNone
			}
		case cGPart:
			switch k {
			case kInlineData:
				return cGInline, rNone
			case kText:
				return cNone, rText
			}
		case cGInline:
			if k == kData {
				return cNone, rWhole
			}
		case cORoot:
			switch k {
			case kData:
				return cOData, rNone
			case kChoices:
				return cOChoices, rNone
			}
		case cODataItem:
			switch k {
			case kB64JSON:
				return cNone, rWhole
			case kURL:
				return cNone, rText
			}
		case cOChoice:
			if k == kMessage {
				return cOMsg, rNone
			}
		case cIRoot:
			if k == kPredictions {
				return cIPreds, rNone
			}
		case cIPred:
			if k == kBytesB64 {
				return cNone, rWhole
			}
		case cBRoot, cBWrap:
			switch k {
			case kMetadata, kResponse, kOutput:
				return cBWrap, rNone
			case kInlinedResponses:
				return cBInl, rNone
			}
		case cBInl:
			if k == kInlinedResponses {
				return cBInlArr, rNone
			}
		case cBItem:
			if k == kResponse {
				return cGRoot, rNone
			}
		case cOMsg, cOContentArr:
			switch k {
			case kB64JSON:
				return cOMsg, rWhole
			case kContent:
				return cOContentArr, rText
			case kText, kURL, kImageURL:
				return cOMsg, rText
			}
			return cOMsg, rNone
		}
		return cNone, rNone
	}
	switch top.ctx {
	case cGCands:
		return cGCand, rNone
	case cGParts:
		return cGPart, rNone
	case cOData:
		return cODataItem, rNone
	case cOChoices:
		return cOChoice, rNone
	case cOMsg:
		return cOMsg, rNone
	case cOContentArr:
		return cOMsg, rText
	case cIPreds:
		return cIPred, rNone
	case cBInlArr:
		return cBItem, rNone
	}
	return cNone, rNone
}

func (p *parser) literal(lit string) error {
	if !p.ensure(len(lit)) {
		// Compare what there is, for a precise error.
		for i := 0; i < p.end-p.pos; i++ {
			if p.buf[p.pos+i] != lit[i] {
				p.pos += i
				return p.syntax("invalid character in literal %s", lit)
			}
		}
		p.pos = p.end
		return p.eofErr()
	}
	if string(p.buf[p.pos:p.pos+len(lit)]) != lit {
		return p.syntax("invalid literal, want %s", lit)
	}
	p.out = append(p.out, lit...)
	p.pos += len(lit)
	return nil
}

// peekByte returns the next byte, false at the end of the body.
func (p *parser) peekByte() (byte, bool) {
	if p.pos >= p.end && !p.fill() {
		return 0, false
	}
	return p.buf[p.pos], true
}

func (p *parser) take() {
	p.out = append(p.out, p.buf[p.pos])
	p.pos++
}

func (p *parser) digits() (int, error) {
	n := 0
	for {
		c, ok := p.peekByte()
		if !ok {
			if p.rerr != nil {
				return n, p.eofErr()
			}
			return n, nil
		}
		if c < '0' || c > '9' {
			return n, nil
		}
		p.take()
		n++
	}
}

// number copies a JSON number, checking its grammar.
func (p *parser) number() error {
	c, _ := p.peekByte()
	if c == '-' {
		p.take()
		var ok bool
		if c, ok = p.peekByte(); !ok {
			return p.eofErr()
		}
	}
	switch {
	case c == '0':
		p.take()
	case c >= '1' && c <= '9':
		if _, err := p.digits(); err != nil {
			return err
		}
	default:
		return p.syntax("invalid character %q in number", c)
	}
	if c, ok := p.peekByte(); ok && c == '.' {
		p.take()
		n, err := p.digits()
		if err != nil {
			return err
		}
		if n == 0 {
			if _, ok := p.peekByte(); !ok {
				return p.eofErr()
			}
			return p.syntax("missing digits after decimal point")
		}
	}
	if c, ok := p.peekByte(); ok && (c == 'e' || c == 'E') {
		p.take()
		if c, ok := p.peekByte(); ok && (c == '+' || c == '-') {
			p.take()
		}
		n, err := p.digits()
		if err != nil {
			return err
		}
		if n == 0 {
			if _, ok := p.peekByte(); !ok {
				return p.eofErr()
			}
			return p.syntax("missing digits in exponent")
		}
	}
	if p.rerr != nil {
		return p.eofErr()
	}
	return nil
}

// tok reads the next string token without consuming it: c is its decoded
// character (0x80 stands for any non-ASCII one), n its length in the body;
// end reports the closing quote. Control characters and invalid escapes
// are errors.
func (p *parser) tok() (c byte, n int, end bool, err error) {
	if p.pos >= p.end && !p.fill() {
		return 0, 0, false, p.eofErr()
	}
	b := p.buf[p.pos]
	switch {
	case b == '"':
		return '"', 1, true, nil
	case b < 0x20:
		return 0, 0, false, p.syntax("control character %#x in string", b)
	case b >= 0x80:
		return 0x80, 1, false, nil
	case b != '\\':
		return b, 1, false, nil
	}
	if !p.ensure(2) {
		p.pos = p.end
		return 0, 0, false, p.eofErr()
	}
	switch e := p.buf[p.pos+1]; e {
	case '"', '\\', '/':
		return e, 2, false, nil
	case 'b':
		return '\b', 2, false, nil
	case 'f':
		return '\f', 2, false, nil
	case 'n':
		return '\n', 2, false, nil
	case 'r':
		return '\r', 2, false, nil
	case 't':
		return '\t', 2, false, nil
	case 'u':
		if !p.ensure(6) {
			p.pos = p.end
			return 0, 0, false, p.eofErr()
		}
		v := 0
		for _, h := range p.buf[p.pos+2 : p.pos+6] {
			var d byte
			switch {
			case h >= '0' && h <= '9':
				d = h - '0'
			case h >= 'a' && h <= 'f':
				d = h - 'a' + 10
			case h >= 'A' && h <= 'F':
				d = h - 'A' + 10
			default:
				return 0, 0, false, p.syntax("invalid \\u escape")
			}
			v = v<<4 | int(d)
		}
		if v >= 0x80 {
			return 0x80, 6, false, nil
		}
		return byte(v), 6, false, nil
	default:
		return 0, 0, false, p.syntax("invalid escape \\%c", e)
	}
}

// keyString copies an object key and identifies it (ASCII case folded, as
// encoding/json matches struct fields).
func (p *parser) keyString() (keyID, error) {
	n := 0
	for {
		c, size, end, err := p.tok()
		if err != nil {
			return 0, err
		}
		p.out = append(p.out, p.buf[p.pos:p.pos+size]...)
		p.pos += size
		if end {
			break
		}
		if n < len(p.key) {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			p.key[n] = c
		}
		n++
	}
	if n > len(p.key) {
		return kOther, nil
	}
	k := string(p.key[:n]) // the compiler does not allocate for the comparisons below
	for _, kn := range keyNames {
		if kn.name == k {
			return kn.id, nil
		}
	}
	return kOther, nil
}

// str handles a string value whose opening quote has been copied.
func (p *parser) str(r role) error {
	switch r {
	case rWhole:
		ok, _, err := p.b64run(rWhole)
		if err != nil {
			return err
		}
		if ok {
			p.pos++ // the closing quote: b64run ends a whole field only there
			p.out = append(p.out, '"')
			return nil
		}
	case rText:
		return p.text()
	}
	return p.verbatim()
}

// verbatim copies the rest of a string.
func (p *parser) verbatim() error {
	for {
		if p.pos >= p.end && !p.fill() {
			return p.eofErr()
		}
		b := p.buf[p.pos:p.end]
		i := 0
		for i < len(b) {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			}
			i++
		}
		p.out = append(p.out, b[:i]...)
		p.pos += i
		if i == len(b) {
			continue
		}
		_, n, end, err := p.tok()
		if err != nil {
			return err
		}
		p.out = append(p.out, p.buf[p.pos:p.pos+n]...)
		p.pos += n
		if end {
			return nil
		}
	}
}

// text copies a string that may hold data URIs, replacing their base64
// runs.
func (p *parser) text() error {
	p.winN = 0
	// A run that ended at whitespace is kept only if what follows cannot
	// make a markdown parser read on (see accept below).
	pending, pendStart, pendEnd := -1, 0, 0
	var prev byte
	for {
		c, n, end, err := p.tok()
		if err != nil {
			return err
		}
		if pending >= 0 && (end || !isWS(c)) {
			if !(end || c == ')' || (c == '"' && prev == ' ')) {
				p.unmark(pending, pendStart, pendEnd)
			}
			pending = -1
		}
		p.out = append(p.out, p.buf[p.pos:p.pos+n]...)
		p.pos += n
		if end {
			return nil
		}
		prev = c
		p.push(c)
		if c == ',' && p.dataURIPrefix() {
			start := len(p.out)
			ok, wsEnd, err := p.b64run(rText)
			if err != nil {
				return err
			}
			if ok && wsEnd {
				pending, pendStart, pendEnd = len(p.res.Payloads)-1, start, len(p.out)
			}
			p.winN = 0
		}
	}
}

func (p *parser) push(c byte) {
	if c >= 'A' && c <= 'Z' {
		c += 'a' - 'A'
	}
	if p.winN == len(p.win) {
		copy(p.win[:], p.win[len(p.win)/2:])
		p.winN = len(p.win) / 2
	}
	p.win[p.winN] = c
	p.winN++
}

// isURIChar reports whether c continues a bare data URI for
// internal/datauri (and is not a comma, which would end its metadata).
func isURIChar(c byte) bool {
	return c > ' ' && c != ')' && c != '"' && c != '\'' && c != '<' && c != '>' && c != ']' && c != ','
}

// dataURIPrefix reports whether the text just read ends with
// data:image/<type>[;params];base64, (case-insensitive), with nothing in
// the metadata that would end a URI or its metadata early.
func (p *parser) dataURIPrefix() bool {
	w := p.win[:p.winN]
	const suffix = ";base64,"
	if len(w) < len("data:image/")+len(suffix) || string(w[len(w)-len(suffix):]) != suffix {
		return false
	}
	for i := len(w) - len(suffix) - 1; i >= 0; i-- {
		if !isURIChar(w[i]) {
			return false
		}
		if i+len("data:image/") <= len(w)-len(suffix) && string(w[i:i+len("data:image/")]) == "data:image/" {
			return true
		}
	}
	return false
}

// unmark puts back the base64 text of payload i in place of its marker at
// out[start:end], keeping what was copied after it.
func (p *parser) unmark(i, start, end int) {
	pl := &p.res.Payloads[i]
	if !p.fits(len(pl.Data)/3*4 + 4) {
		return
	}
	tail := append([]byte(nil), p.out[end:]...)
	p.out = p.out[:start]
	enc := base64.StdEncoding
	if !pl.Padded {
		enc = base64.RawStdEncoding
	}
	p.out = enc.AppendEncode(p.out, pl.Data)
	p.out = append(p.out, tail...)
	// No marker refers to the payload any more. Its bytes are released
	// when they are the arena's tail.
	if p.useArena && pl.gen == p.gen() && pl.off+len(pl.Data) == len(p.arena) {
		p.arena = p.arena[:pl.off]
	}
	pl.Data, pl.RawLen = nil, 0
}

func isB64(c byte) bool {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'
}

// indexQB returns the index of the first '"' or '\\' in b, or len(b).
func indexQB(b []byte) int {
	if i := bytes.IndexByte(b, '"'); i >= 0 {
		b = b[:i]
	}
	if i := bytes.IndexByte(b, '\\'); i >= 0 {
		return i
	}
	return len(b)
}

// b64run decodes a base64 run at the current position, up to the first
// token that is not part of it, which it leaves unread. If the run is
// canonical and its end is one the schema's consumers also see as the
// end (the closing quote; for text also ')' or whitespace), the payload
// is kept, its marker appended to out, and ok is true; wsEnd reports a
// whitespace end. Otherwise the run's text is appended to out as it was
// and ok is false.
func (p *parser) b64run(r role) (ok, wsEnd bool, err error) {
	p.pbegin()
	var q [4]byte
	qn, raw, ended := 0, 0, false
	for {
		if qn == 0 && !ended {
			if p.pos >= p.end && !p.fill() {
				p.pabort()
				return false, false, p.eofErr()
			}
			seg := p.buf[p.pos:p.end]
			seg = seg[:indexQB(seg)&^3]
			if len(seg) >= 16 {
				k := p.bulk(seg)
				p.pos += k
				raw += k
				if k == len(seg) {
					continue
				}
			}
		}
		c, n, end, err := p.tok()
		if err != nil {
			p.pabort()
			return false, false, err
		}
		switch {
		case !end && !ended && isB64(c) && (qn < 2 || q[qn-1] != '='):
			q[qn] = c
			qn++
			p.pos += n
			raw++
		case !end && !ended && c == '=' && qn >= 2:
			q[qn] = c
			qn++
			p.pos += n
			raw++
		default:
			// The run ends before this token.
			padded := true
			good := raw > 0
			switch {
			case qn == 0:
			case r == rWhole || qn == 1 || q[qn-1] == '=':
				good = false
			default:
				padded = false
			}
			switch {
			case r == rWhole:
				good = good && end
			default:
				wsEnd = !end && isWS(c)
				good = good && (end || c == ')' || wsEnd)
			}
			if good && qn > 0 {
				dst := p.avail(3)
				m, err := strictRaw.Decode(dst, q[:qn])
				if err != nil {
					good = false
				} else {
					p.commit(m)
					qn = 0
				}
			}
			if !good {
				p.bail(q[:qn])
				return false, false, nil
			}
			i := p.pend(raw, padded)
			p.out = p.res.appendMarker(p.out, i)
			return true, wsEnd, nil
		}
		if qn == 4 {
			dst := p.avail(3)
			m, err := strictStd.Decode(dst, q[:4])
			if err != nil {
				// Not canonical (non-zero pad bits): keep the text.
				p.bail(q[:4])
				return false, false, nil
			}
			p.commit(m)
			ended = m < 3
			qn = 0
		}
	}
}

// bulk decodes s (whole quartets, no quote or backslash) and returns how
// many characters it consumed: all of s, or a clean prefix when s holds
// padding, a character outside the alphabet or a line break.
func (p *parser) bulk(s []byte) int {
	want := len(s) / 4 * 3
	dst := p.avail(want)
	n, err := strictStd.Decode(dst, s)
	if err == nil && n == want {
		p.commit(n)
		return len(s)
	}
	l := len(s) - 4
	var ce base64.CorruptInputError
	if errors.As(err, &ce) && int(ce)&^3 < l {
		l = int(ce) &^ 3
	}
	if l >= 4 {
		if n, err := strictStd.Decode(dst, s[:l]); err == nil && n == l/4*3 {
			p.commit(n)
			return l
		}
	}
	return 0
}

// bail gives up a run: the text decoded so far is re-encoded (the same
// characters, since it was canonical) followed by the pending ones.
func (p *parser) bail(pending []byte) {
	if !p.fits(p.plen()/3*4 + 4 + len(pending)) {
		p.pabort()
		return
	}
	p.out = p.pencode(p.out)
	p.out = append(p.out, pending...)
	p.pabort()
}

// Payload buffers. With a size hint, payloads are carved from one arena
// sized from the bytes left in the body (base64 decodes to at most 3/4 of
// them); without one, a payload is decoded into chunks (reused for the
// next payload) and copied once into a slice of its exact size.

func (p *parser) gen() int { return p.arenaGen }

func (p *parser) pbegin() {
	if !p.useArena {
		p.nchunk = 0
		return
	}
	if p.arena == nil {
		size := (p.hint-p.offset())/4*3 + 16
		size = min(max(size, 4<<10), maxArena)
		p.arena = make([]byte, 0, size)
		p.arenaGen++
	}
	p.mark = len(p.arena)
}

func (p *parser) avail(n int) []byte {
	if p.useArena && p.guess && cap(p.arena)-len(p.arena) < n {
		// The guess was short: what the arena holds of this payload
		// becomes its first chunk (no copy), the rest goes to chunks.
		cur := p.arena[p.mark:len(p.arena):len(p.arena)]
		p.arena = p.arena[:p.mark]
		p.useArena = false
		p.nchunk = 0
		if len(cur) > 0 {
			if len(p.chunks) == 0 {
				p.chunks = append(p.chunks, cur)
			} else {
				p.chunks[0] = cur
			}
			p.nchunk = 1
		}
	}
	if p.useArena {
		if cap(p.arena)-len(p.arena) < n {
			cur := len(p.arena) - p.mark
			na := make([]byte, cur, max(2*(cur+n), 64<<10))
			copy(na, p.arena[p.mark:])
			p.arena, p.mark = na, 0
			p.arenaGen++
		}
		return p.arena[len(p.arena) : len(p.arena)+n]
	}
	if p.nchunk > 0 {
		if c := p.chunks[p.nchunk-1]; cap(c)-len(c) >= n {
			return c[len(c) : len(c)+n]
		}
	}
	if p.nchunk < len(p.chunks) && cap(p.chunks[p.nchunk]) >= n {
		p.chunks[p.nchunk] = p.chunks[p.nchunk][:0]
	} else {
		size := minChunk
		if p.nchunk > 0 {
			size = min(max(2*cap(p.chunks[p.nchunk-1]), minChunk), maxChunk)
		}
		c := make([]byte, 0, max(size, n))
		if p.nchunk < len(p.chunks) {
			p.chunks[p.nchunk] = c
		} else {
			p.chunks = append(p.chunks, c)
		}
	}
	p.nchunk++
	c := p.chunks[p.nchunk-1]
	return c[:n]
}

func (p *parser) commit(n int) {
	if p.useArena {
		p.arena = p.arena[:len(p.arena)+n]
		return
	}
	c := p.chunks[p.nchunk-1]
	p.chunks[p.nchunk-1] = c[:len(c)+n]
}

// pencode appends the base64 of the payload decoded so far.
func (p *parser) pencode(dst []byte) []byte {
	if p.useArena {
		return base64.StdEncoding.AppendEncode(dst, p.arena[p.mark:])
	}
	for _, c := range p.chunks[:p.nchunk] {
		dst = base64.StdEncoding.AppendEncode(dst, c)
	}
	return dst
}

// plen is the length of the payload decoded so far.
func (p *parser) plen() int {
	if p.useArena {
		return len(p.arena) - p.mark
	}
	n := 0
	for _, c := range p.chunks[:p.nchunk] {
		n += len(c)
	}
	return n
}

func (p *parser) pabort() {
	if p.useArena {
		p.arena = p.arena[:p.mark]
		return
	}
	p.nchunk = 0
}

// pend finishes the payload and returns its index.
func (p *parser) pend(raw int, padded bool) int {
	pl := Payload{RawLen: raw, Padded: padded}
	if p.useArena {
		pl.Data = p.arena[p.mark:len(p.arena):len(p.arena)]
		pl.gen, pl.off = p.gen(), p.mark
	} else {
		total := 0
		for _, c := range p.chunks[:p.nchunk] {
			total += len(c)
		}
		pl.Data = make([]byte, 0, total)
		for _, c := range p.chunks[:p.nchunk] {
			pl.Data = append(pl.Data, c...)
		}
		p.nchunk = 0
	}
	p.res.Payloads = append(p.res.Payloads, pl)
	return len(p.res.Payloads) - 1
}
