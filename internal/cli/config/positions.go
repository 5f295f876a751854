package config

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Pos is a place in the config file, 1-based.
type Pos struct{ Line, Col int }

// positions maps every key and table of a document to where it is
// written: "providers.gemini.limits.requests_per_minute", "routes[1]",
// "routes[1].weight". go-toml's own errors give a row and a key without
// array indexes; this map gives both for errors found after decoding (a
// constructor refusing a value), which go-toml cannot know of.
type positions struct {
	byKey  map[string]Pos
	byLine map[int][]string         // the key defined on each line, for go-toml's errors
	kinds  map[string]unstable.Kind // the kind of each key's value
}

// scanPositions walks the document with go-toml's parser. It returns what
// it found before any syntax error; the decoder reports that error itself.
func scanPositions(doc []byte) positions {
	ps := positions{byKey: map[string]Pos{}, byLine: map[int][]string{}, kinds: map[string]unstable.Kind{}}
	var p unstable.Parser
	p.Reset(doc)
	table := ""
	arrays := map[string]int{} // array-of-tables path → count so far
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			table = joinKey(keyParts(e.Key()))
			ps.add(&p, table, e)
		case unstable.ArrayTable:
			base := joinKey(keyParts(e.Key()))
			i := arrays[base]
			arrays[base] = i + 1
			table = base + "[" + strconv.Itoa(i) + "]"
			ps.add(&p, table, e)
		case unstable.KeyValue:
			ps.keyValue(&p, table, e)
		}
	}
	return ps
}

func (ps positions) keyValue(p *unstable.Parser, table string, kv *unstable.Node) {
	key := join(table, joinKey(keyParts(kv.Key())))
	ps.add(p, key, kv)
	v := kv.Value()
	ps.kinds[key] = v.Kind
	if v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				ps.keyValue(p, key, n)
			}
		}
	}
}

func (ps positions) add(p *unstable.Parser, key string, n *unstable.Node) {
	r := n.Raw
	if r.Length == 0 {
		// Expressions carry no range of their own; their first key does.
		it := n.Key()
		if it.Next() {
			r = it.Node().Raw
		}
	}
	if r.Length == 0 {
		return
	}
	sh := p.Shape(r)
	pos := Pos{Line: sh.Start.Line, Col: sh.Start.Column}
	if _, dup := ps.byKey[key]; !dup {
		ps.byKey[key] = pos
	}
	ps.byLine[pos.Line] = append(ps.byLine[pos.Line], key)
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

func joinKey(parts []string) string { return strings.Join(parts, ".") }

func join(table, key string) string {
	if table == "" {
		return key
	}
	return table + "." + key
}
