package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/provider"
)

// maxInputBytes bounds an input image read from a file; providers take far
// less (the catalog's limits are checked before any call).
const maxInputBytes = 64 << 20

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// requestFlags are the request fields generate, edit and probe share.
type requestFlags struct {
	prompt, model, prov   string
	size, aspect, quality string
	format, negative      string
	n                     int
	seed                  int64
	refs                  stringsFlag
	timeout               time.Duration
}

func (r *requestFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.prompt, "prompt", "", "the `text` to draw (or give it as the arguments)")
	fs.StringVar(&r.model, "model", "", "model `ID` (imagegen models lists them); the provider follows from it")
	fs.StringVar(&r.prov, "provider", "", "provider `name`: a [providers.NAME] of the config or gemini, imagen, openai, openrouter, laozhang, aimlapi, kie, replicate, apimart")
	fs.StringVar(&r.size, "size", "", "512, 1K, 2K, 4K, auto or WIDTHxHEIGHT")
	fs.StringVar(&r.aspect, "aspect", "", "aspect `ratio` such as 1:1 or 16:9")
	fs.StringVar(&r.quality, "quality", "", "quality in the provider's words (low, medium, high, hd, ...)")
	fs.StringVar(&r.format, "format", "", "output `format`: png, jpeg, webp")
	fs.StringVar(&r.negative, "negative", "", "what to avoid, where supported")
	fs.IntVar(&r.n, "n", 1, "images wanted")
	fs.Int64Var(&r.seed, "seed", 0, "fixed seed, where supported (0: none)")
	fs.Var(&r.refs, "ref", "reference image `file` (repeatable)")
	fs.DurationVar(&r.timeout, "timeout", 5*time.Minute, "the longest the whole command may take")
}

// request builds the request from the flags; prompt args win when the
// --prompt flag is empty.
func (r *requestFlags) request(args []string) (*provider.Request, error) {
	prompt := r.prompt
	if prompt == "" {
		prompt = strings.Join(args, " ")
	} else if len(args) > 0 {
		return nil, provider.InvalidConfig("arguments", strings.Join(args, " "), "either --prompt or the prompt as arguments, not both")
	}
	if strings.TrimSpace(prompt) == "" {
		return nil, provider.InvalidConfig("--prompt", `""`, "a prompt: --prompt TEXT or TEXT as the arguments")
	}
	if r.n < 1 || r.n > provider.MaxN {
		return nil, provider.InvalidConfig("--n", r.n, fmt.Sprintf("1 to %d", provider.MaxN))
	}
	if r.timeout <= 0 {
		return nil, provider.InvalidConfig("--timeout", r.timeout, "more than 0")
	}
	req := &provider.Request{Prompt: prompt, Model: r.model, N: r.n, Size: r.size, AspectRatio: r.aspect,
		Quality: r.quality, OutputFormat: r.format, NegativePrompt: r.negative}
	if r.seed != 0 {
		req.Seed = &r.seed
	}
	for _, f := range r.refs {
		img, err := readImage("--ref", f)
		if err != nil {
			return nil, err
		}
		req.References = append(req.References, img)
	}
	return req, nil
}

// readImage reads an input image from a file.
func readImage(flagName, path string) (provider.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return provider.Image{}, &provider.ConfigError{Field: flagName, Value: path, Err: err}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxInputBytes+1))
	if err != nil {
		return provider.Image{}, &provider.ConfigError{Field: flagName, Value: path, Err: err}
	}
	if len(b) > maxInputBytes {
		return provider.Image{}, provider.InvalidConfig(flagName, path, "an image file of at most 64 MiB")
	}
	if provider.SniffMIME(b) == "" {
		return provider.Image{}, provider.InvalidConfig(flagName, path, "a PNG, JPEG, WebP, GIF or HEIC image")
	}
	return provider.Image{Data: b}, nil
}

// parseFlags parses args into fs and turns a bad flag into a
// *provider.ConfigError (exit status 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &provider.ConfigError{Field: fs.Name() + " flags", Err: err}
	}
	return nil
}

func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imagegen "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// Generate is `imagegen generate`: one request, its images written to a
// directory, their paths printed one a line on stdout.
func Generate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return generate(ctx, "generate", args, stdout, stderr)
}

// Edit is `imagegen edit`: an existing image changed as a prompt says.
func Edit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return generate(ctx, "edit", args, stdout, stderr)
}

const generateUsage = `Usage: imagegen generate [flags] [PROMPT...]

Generate images and write them to --out; their paths are printed one a line.
The provider follows from --model (imagegen models) or --provider; keys come
from the environment (GEMINI_API_KEY, OPENAI_API_KEY, OPENROUTER_API_KEY,
KIE_API_KEY, REPLICATE_API_TOKEN, APIMART_API_KEY, ...). --emulator runs
offline.

  imagegen generate --emulator "a lighthouse at dusk"
  imagegen generate --model gpt-image-2 --size 1536x1024 --quality high "a kite"
  imagegen generate --model kie/nano-banana-pro --size 2K "a kite"
`

const editUsage = `Usage: imagegen edit --image FILE [flags] [PROMPT...]

Edit an existing image as the prompt says (with --mask where the model takes
one) and write the results to --out; their paths are printed one a line.

  imagegen edit --emulator --image photo.png "make it night"
`

func generate(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	usage := generateUsage
	if cmd == "edit" {
		usage = editUsage
	}
	fs := newFlagSet(cmd, usage, stderr)
	var (
		c      common
		rf     requestFlags
		out    = fs.String("out", ".", "`directory` for the images")
		name   = fs.String("name", "", "file name `prefix` (default: from the prompt and the time)")
		asJSON = fs.Bool("json", false, "print a JSON summary on stdout instead of the paths")
		image  string
		mask   string
	)
	c.register(fs)
	rf.register(fs)
	if cmd == "edit" {
		fs.StringVar(&image, "image", "", "the image `file` to edit")
		fs.StringVar(&mask, "mask", "", "inpainting mask `file`, where the model takes one")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	req, err := rf.request(fs.Args())
	if err != nil {
		return err
	}
	if cmd == "edit" {
		if image == "" {
			return provider.InvalidConfig("--image", `""`, "the image file to edit")
		}
		img, err := readImage("--image", image)
		if err != nil {
			return err
		}
		req.References = append([]provider.Image{img}, req.References...)
		if mask != "" {
			m, err := readImage("--mask", mask)
			if err != nil {
				return err
			}
			req.Mask = &m
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, rf.timeout)
	defer cancel()
	s, err := c.open(ctx, cmd, stderr, sessionOptions{})
	if err != nil {
		return err
	}
	defer s.Close()
	rt, err := s.resolve(ctx, rf.prov, rf.model)
	if err != nil {
		return err
	}
	req.Model = rt.model
	req.Labels = s.requestLabels(nil)
	fmt.Fprintf(stderr, "%s on %s ...\n", rt.what, s.where())
	resp, err := s.wrap(rt.gen).Generate(ctx, req)
	if err != nil {
		return err
	}
	prefix := *name
	if prefix == "" {
		prefix = slug(req.Prompt, 40) + "-" + time.Now().Format("20060102-150405")
	}
	var files []string
	for i, img := range resp.Images {
		p, err := writeNew(*out, fmt.Sprintf("%s-%d", prefix, i+1), img)
		if err != nil {
			return err
		}
		files = append(files, p)
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stderr, "%s %s: %d image(s), %s%s\n", resp.Provider, resp.Model, len(resp.Images), resp.Cost, cachedNote(resp))
	if err := s.Close(); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"files": files, "provider": resp.Provider, "model": resp.Model, "cost": resp.Cost,
			"usage": resp.Usage, "cached": resp.Cached, "text": resp.Text, "warnings": resp.Warnings,
		})
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}

func cachedNote(r *provider.Response) string {
	if r.Cached {
		return " (cached)"
	}
	return ""
}

// slug keeps the first max letters and digits of s for a file name.
func slug(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if b.Len() >= max {
			break
		}
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "image"
	}
	return out
}

// safeName keeps a batch key usable as a file name.
func safeName(s string) string {
	out := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
	out = strings.TrimLeft(out, ".")
	if out == "" {
		return "_"
	}
	return out
}

// writeNew writes img as dir/base.ext, or dir/base-2.ext and so on when
// that exists, and returns the path.
func writeNew(dir, base string, img provider.Image) (string, error) {
	ext := img.Extension()
	for i := 1; ; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(img.Data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(p)
			return "", err
		}
		return p, nil
	}
}

// IsUsageError reports whether err is the user's mistake found before any
// provider call: a bad flag or config value (provider.ErrInvalidConfig) or
// a request the catalog refused (provider.ErrInvalidRequest with no HTTP
// status). The command exits 2 for these.
func IsUsageError(err error) bool {
	if errors.Is(err, provider.ErrInvalidConfig) {
		return true
	}
	var pe *provider.Error
	return errors.Is(err, provider.ErrInvalidRequest) && errors.As(err, &pe) && pe.StatusCode == 0
}
