// Package sse reads a text/event-stream (Server-Sent Events) body one
// event at a time, with each event's data streamed rather than buffered:
// a data line of tens of megabytes (a base64 image) costs no more memory
// than the read buffer, so the caller can decode it as it arrives.
//
// Framing follows the WHATWG rules as OpenAI's SDK applies them: lines
// end in "\n", "\r\n" or "\r"; a blank line ends an event; "field: value"
// with one leading space stripped; the data lines of one event are joined
// with "\n"; lines that start with ':' are comments; an event without
// data is not dispatched; a last event without its blank line is flushed
// at the end of the body. Fields other than event and data (id, retry,
// unknown ones) are skipped without being buffered.
package sse

import (
	"bufio"
	"io"
)

// MaxEventName is the longest event name kept; longer names are cut.
const MaxEventName = 128

// maxFieldName is the longest field name recognised; a line whose name is
// longer is an unknown field, skipped.
const maxFieldName = 16

// Reader reads events from a body. It is not safe for concurrent use.
type Reader struct {
	br    *bufio.Reader
	name  []byte // event name of the current event
	state state
	err   error // sticky read error
	data  dataReader
}

type state uint8

const (
	sBetween state = iota // between events (or inside one before its first data line)
	sData                 // inside a data value
	sAfter                // inside an event, after a data line ended
	sDone                 // the current event ended (blank line or EOF)
)

// NewReader returns a Reader of r with a 64 KiB read buffer.
func NewReader(r io.Reader) *Reader {
	s := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	s.data.r = s
	return s
}

// Next skips the rest of the current event and advances to the next one
// that carries data. It returns io.EOF at the end of the body and the
// body's read error if reading failed. The event's data is read from
// Data; its name, from Event.
func (s *Reader) Next() error {
	// Skip what is left of the current event.
	for s.state == sData || s.state == sAfter {
		if s.state == sData {
			if err := s.skipLine(); err != nil {
				return err
			}
			s.state, s.data.pending = sAfter, false
			continue
		}
		if _, err := s.data.Read(nil); err != nil && err != io.EOF {
			return err
		}
	}
	s.name = s.name[:0]
	s.state = sBetween
	for {
		field, ended, err := s.fieldName()
		if err != nil {
			return err
		}
		switch {
		case field == "" && ended:
			// A blank line: an event without data, not dispatched.
			s.name = s.name[:0]
		case field == "data":
			s.state = sData
			if ended {
				s.state = sAfter // an empty data line
			}
			return nil
		case field == "event" && ended:
			s.name = s.name[:0]
		case field == "event":
			if err := s.readName(); err != nil {
				return err
			}
		case !ended:
			if err := s.skipLine(); err != nil {
				return err
			}
		}
	}
}

// Event returns the name of the current event ("" when it has none). A
// name sent after the event's data lines is known once Data has been read
// to its end.
func (s *Reader) Event() string { return string(s.name) }

// Data returns the current event's data, read as it arrives: its data
// lines joined with "\n", ending at the event's end (io.EOF). It is valid
// until the next call to Next.
func (s *Reader) Data() io.Reader { return &s.data }

// fieldName reads a line's field name and the ':' (and one space) after
// it, and returns it; "" for a blank line. A comment or a line without a
// name too long to be known is consumed and reported as "-". io.EOF at the end of the
// body before any byte of a line.
//
// A line without a colon is a field whose value is empty: ended reports
// that its line has been consumed.
func (s *Reader) fieldName() (field string, ended bool, err error) {
	var name [maxFieldName]byte
	n := 0
	first := true
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF && !first {
				return string(name[:n]), true, nil
			}
			return "", true, s.fail(err)
		}
		switch c {
		case '\n', '\r':
			if c == '\r' {
				s.eatLF()
			}
			if first {
				return "", true, nil
			}
			return string(name[:n]), true, nil
		case ':':
			if first {
				return "-", true, s.skipLine() // a comment
			}
			s.eatSpace()
			return string(name[:n]), false, nil
		}
		first = false
		if n == len(name) {
			return "-", true, s.skipLine()
		}
		name[n] = c
		n++
	}
}

// eatLF consumes a '\n' following a '\r'.
func (s *Reader) eatLF() {
	if b, err := s.br.Peek(1); err == nil && b[0] == '\n' {
		_, _ = s.br.ReadByte()
	}
}

// eatSpace consumes one ' ' after a field's colon.
func (s *Reader) eatSpace() {
	if b, err := s.br.Peek(1); err == nil && b[0] == ' ' {
		_, _ = s.br.ReadByte()
	}
}

// Buffered returns the number of bytes read from the body but not yet
// consumed: with the count read from the body, where the reader is.
func (s *Reader) Buffered() int { return s.br.Buffered() }

// skipLine consumes the rest of a line, without buffering it.
func (s *Reader) skipLine() error {
	for {
		if _, err := s.br.Peek(1); err != nil {
			if err == io.EOF {
				return nil
			}
			return s.fail(err)
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		for i, c := range buf {
			if c == '\n' || c == '\r' {
				_, _ = s.br.Discard(i + 1)
				if c == '\r' {
					s.eatLF()
				}
				return nil
			}
		}
		_, _ = s.br.Discard(len(buf))
	}
}

// readName reads an event name (its first MaxEventName bytes) and the rest
// of its line.
func (s *Reader) readName() error {
	s.name = s.name[:0]
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return s.fail(err)
		}
		switch c {
		case '\n':
			return nil
		case '\r':
			s.eatLF()
			return nil
		}
		if len(s.name) < MaxEventName {
			s.name = append(s.name, c)
		}
	}
}

func (s *Reader) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// dataReader streams the current event's data.
type dataReader struct {
	r       *Reader
	pending bool // a "\n" joining two data lines is owed
}

// Read implements io.Reader. A nil or empty p advances past the fields
// between data lines without reading data.
func (d *dataReader) Read(p []byte) (int, error) {
	s := d.r
	for {
		if d.pending && len(p) > 0 {
			p[0] = '\n'
			d.pending = false
			return 1, nil
		}
		switch s.state {
		case sDone, sBetween:
			return 0, io.EOF
		case sAfter:
			// Between lines of one event: another data line continues the
			// value, a blank line (or the end) ends it.
			field, ended, err := s.fieldName()
			if err != nil {
				if err == io.EOF {
					s.state = sDone
					return 0, io.EOF
				}
				return 0, err
			}
			switch {
			case field == "" && ended:
				s.state = sDone
				return 0, io.EOF
			case field == "data":
				d.pending = true
				if !ended {
					s.state = sData
				}
			case field == "event" && ended:
				s.name = s.name[:0]
			case field == "event":
				if err := s.readName(); err != nil {
					return 0, err
				}
			case !ended:
				if err := s.skipLine(); err != nil {
					return 0, err
				}
			}
			continue
		}
		// sData
		if len(p) == 0 {
			return 0, nil
		}
		if _, err := s.br.Peek(1); err != nil {
			if err == io.EOF {
				s.state = sDone
				return 0, io.EOF
			}
			return 0, s.fail(err)
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		n := 0
		for n < len(buf) && n < len(p) {
			c := buf[n]
			if c == '\n' || c == '\r' {
				copy(p, buf[:n])
				_, _ = s.br.Discard(n + 1)
				if c == '\r' {
					s.eatLF()
				}
				s.state = sAfter
				if n > 0 {
					return n, nil
				}
				break
			}
			n++
		}
		if s.state == sAfter {
			continue
		}
		copy(p, buf[:n])
		_, _ = s.br.Discard(n)
		return n, nil
	}
}
