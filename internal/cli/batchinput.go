package cli

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/imagegen-go/imagegen/provider"
)

// batchItem is one line of a batch input file (JSONL) or one row (CSV).
type batchItem struct {
	Key         string            `json:"key"`
	Prompt      string            `json:"prompt"`
	Model       string            `json:"model,omitempty"`
	Size        string            `json:"size,omitempty"`
	AspectRatio string            `json:"aspect_ratio,omitempty"`
	N           int               `json:"n,omitempty"`
	Quality     string            `json:"quality,omitempty"`
	Format      string            `json:"format,omitempty"`
	Negative    string            `json:"negative,omitempty"`
	Seed        *int64            `json:"seed,omitempty"`
	Refs        []string          `json:"refs,omitempty"` // reference image files, relative to the input file
	Labels      map[string]string `json:"labels,omitempty"`

	line int // where it was read, for messages
}

// csvColumns are the columns a CSV input may have; refs are separated by
// ';' and labels written "k=v;k2=v2".
var csvColumns = []string{"key", "prompt", "model", "size", "aspect_ratio", "n", "quality", "format", "negative", "seed", "refs", "labels"}

// readBatchInput reads items from a JSONL or CSV file ("-" for stdin,
// JSONL). The format follows the extension (.csv; anything else is JSONL)
// unless format says. Every mistake is a *provider.ConfigError naming the
// line.
func readBatchInput(path, format string) ([]*batchItem, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 256<<20))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, &provider.ConfigError{Field: "--in", Value: path, Err: err}
	}
	if format == "" {
		format = "jsonl"
		if strings.EqualFold(filepath.Ext(path), ".csv") {
			format = "csv"
		}
	}
	var items []*batchItem
	switch format {
	case "jsonl":
		items, err = readJSONL(path, data)
	case "csv":
		items, err = readCSV(path, data)
	default:
		return nil, provider.InvalidConfig("--format", format, "jsonl or csv")
	}
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, provider.InvalidConfig("--in", path, "at least one item")
	}
	seen := map[string]int{}
	base := filepath.Dir(path)
	for _, it := range items {
		at := fmt.Sprintf("%s:%d", path, it.line)
		if prev, dup := seen[it.Key]; dup {
			return nil, provider.InvalidConfig(at+": key", it.Key, fmt.Sprintf("a key used once (line %d has it too)", prev))
		}
		seen[it.Key] = it.line
		if strings.TrimSpace(it.Prompt) == "" {
			return nil, provider.InvalidConfig(at+": prompt", `""`, "a prompt")
		}
		if it.N < 0 || it.N > provider.MaxN {
			return nil, provider.InvalidConfig(at+": n", it.N, fmt.Sprintf("1 to %d", provider.MaxN))
		}
		for i, r := range it.Refs {
			if !filepath.IsAbs(r) && path != "-" {
				it.Refs[i] = filepath.Join(base, r)
			}
		}
	}
	return items, nil
}

func readJSONL(path string, data []byte) ([]*batchItem, error) {
	var items []*batchItem
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		it := &batchItem{line: n}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(it); err != nil {
			return nil, &provider.ConfigError{Field: fmt.Sprintf("%s:%d", path, n),
				Want: "a JSON object with key, prompt, model, size, aspect_ratio, n, quality, format, negative, seed, refs, labels", Err: err}
		}
		if it.Key == "" {
			it.Key = "line-" + strconv.Itoa(n)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, &provider.ConfigError{Field: "--in", Value: path, Err: err}
	}
	return items, nil
}

func readCSV(path string, data []byte) ([]*batchItem, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, &provider.ConfigError{Field: path + ":1", Want: "a header row naming the columns", Err: err}
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(csvColumns, h) {
			return nil, provider.InvalidConfig(path+":1: column", h, strings.Join(csvColumns, ", "))
		}
		cols[h] = i
	}
	if _, ok := cols["prompt"]; !ok {
		return nil, provider.InvalidConfig(path+":1: columns", strings.Join(header, ","), "a prompt column")
	}
	var items []*batchItem
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, &provider.ConfigError{Field: fmt.Sprintf("%s:%d", path, line), Err: err}
		}
		get := func(c string) string {
			if i, ok := cols[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		it := &batchItem{line: line, Key: get("key"), Prompt: get("prompt"), Model: get("model"), Size: get("size"),
			AspectRatio: get("aspect_ratio"), Quality: get("quality"), Format: get("format"), Negative: get("negative")}
		at := fmt.Sprintf("%s:%d", path, line)
		if v := get("n"); v != "" {
			if it.N, err = strconv.Atoi(v); err != nil {
				return nil, provider.InvalidConfig(at+": n", v, "a whole number")
			}
		}
		if v := get("seed"); v != "" {
			s, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, provider.InvalidConfig(at+": seed", v, "a whole number")
			}
			it.Seed = &s
		}
		for _, ref := range strings.Split(get("refs"), ";") {
			if ref = strings.TrimSpace(ref); ref != "" {
				it.Refs = append(it.Refs, ref)
			}
		}
		for _, kv := range strings.Split(get("labels"), ";") {
			if kv = strings.TrimSpace(kv); kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, provider.InvalidConfig(at+": labels", kv, "key=value pairs separated by ;")
			}
			if it.Labels == nil {
				it.Labels = map[string]string{}
			}
			it.Labels[k] = v
		}
		if it.Key == "" {
			it.Key = "row-" + strconv.Itoa(line)
		}
		items = append(items, it)
	}
	return items, nil
}

// fingerprint identifies what an item asks for, so that a rerun whose
// input changed under a key is refused rather than mixing results.
func (it *batchItem) fingerprint() string {
	c := *it
	c.Key, c.line = "", 0
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// request builds the item's request; model is the batch's when the item
// names none.
func (it *batchItem) request(model string, labels map[string]string) (*provider.Request, error) {
	req := &provider.Request{Prompt: it.Prompt, Model: it.Model, N: it.N, Size: it.Size, AspectRatio: it.AspectRatio,
		Quality: it.Quality, OutputFormat: it.Format, NegativePrompt: it.Negative, Seed: it.Seed, Labels: labels}
	if req.Model == "" {
		req.Model = model
	}
	for _, r := range it.Refs {
		img, err := readImage("refs", r)
		if err != nil {
			return nil, err
		}
		req.References = append(req.References, img)
	}
	return req, nil
}
