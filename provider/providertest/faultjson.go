package providertest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Endpoints lists every emulated endpoint, the names faults and
// statistics use (EndpointAny and EndpointUnknown excluded).
func Endpoints() []Endpoint {
	return []Endpoint{
		EndpointGenerateContent, EndpointStreamGenerateContent, EndpointBatchCreate, EndpointBatchGet,
		EndpointBatchList, EndpointBatchCancel, EndpointBatchDelete, EndpointFileUpload, EndpointFileGet,
		EndpointFileList, EndpointFileDownload, EndpointFileDelete, EndpointPredict,
		EndpointImagesGenerations, EndpointImagesEdits, EndpointChatCompletions, EndpointOpenRouterImages,
		EndpointFiles,
		EndpointKieCreate, EndpointKieRecord, EndpointKieUpload, EndpointKieDownloadURL, EndpointKieCredit,
		EndpointReplicateCreate, EndpointReplicateGet, EndpointReplicateList, EndpointReplicateCancel,
		EndpointReplicateFiles, EndpointReplicateSecret, EndpointAPIMartCreate, EndpointAPIMartTask,
		EndpointAPIMartUpload, EndpointTaskFiles,
	}
}

// knownEndpoint reports whether ep can take faults: an emulated endpoint
// or EndpointAny.
func knownEndpoint(ep Endpoint) bool {
	if ep == EndpointAny {
		return true
	}
	for _, e := range Endpoints() {
		if e == ep {
			return true
		}
	}
	return false
}

// faultKinds names each FaultKind by its constructor.
func faultKinds() [KindStreamIncomplete + 1]string {
	return [...]string{
		KindNone: "None", KindRateLimited: "RateLimited", KindRateLimitedUntil: "RateLimitedUntil",
		KindDailyQuotaExhausted: "DailyQuotaExhausted", KindQuotaZero: "QuotaZero",
		KindPaymentRequired: "PaymentRequired", KindModelRetired: "ModelRetired", KindUnavailable: "Unavailable",
		KindProxyHTML502: "ProxyHTML502", KindStatus: "Status", KindSafetyBlock: "SafetyBlock",
		KindPromptBlocked: "PromptBlocked", KindNoImage: "NoImage", KindPartialFilter: "PartialFilter",
		KindLatency: "Latency", KindHang: "Hang", KindTruncated: "Truncated", KindMalformed: "Malformed",
		KindReset: "Reset", KindStreamReset: "StreamReset", KindStreamHang: "StreamHang",
		KindStreamMalformed: "StreamMalformed", KindStreamError: "StreamError", KindStreamIncomplete: "StreamIncomplete",
	}
}

// FaultKinds lists the fault kinds by the names their JSON form uses (the
// constructors' names: "RateLimited", "Hang", ...).
func FaultKinds() []string { k := faultKinds(); return k[:] }

// faultJSON is a Fault on the wire of the control endpoint and the
// emulator's config file.
type faultJSON struct {
	Kind    string            `json:"kind"`
	Retry   *jsonDuration     `json:"retry,omitempty"`
	Until   *time.Time        `json:"until,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	N       int               `json:"n,omitempty"`
	Delay   *jsonDuration     `json:"delay,omitempty"`
	Code    int               `json:"code,omitempty"`
	Body    string            `json:"body,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// MarshalJSON writes the fault as {"kind": "RateLimited", "retry": "7s"},
// the form UnmarshalJSON reads.
func (f Fault) MarshalJSON() ([]byte, error) {
	kinds := faultKinds()
	if f.Kind < 0 || int(f.Kind) >= len(kinds) {
		return nil, fmt.Errorf("providertest: unknown fault kind %d", f.Kind)
	}
	j := faultJSON{Kind: kinds[f.Kind], Reason: f.Reason, N: f.N, Code: f.Code, Body: f.Body}
	switch f.Kind {
	case KindRateLimited:
		d := jsonDuration(f.Retry)
		j.Retry = &d
	case KindRateLimitedUntil:
		u := f.Until
		j.Until = &u
	case KindLatency:
		d := jsonDuration(f.Delay)
		j.Delay = &d
	case KindStatus:
		j.Headers = map[string]string{}
		for k, vs := range parseHeader(f.Header) {
			j.Headers[k] = strings.Join(vs, ", ")
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a fault written as its constructor's name and
// arguments: {"kind": "RateLimited", "retry": "7s"}, {"kind":
// "RateLimitedUntil", "until": "2026-12-04T10:00:00Z"}, {"kind":
// "SafetyBlock", "reason": "IMAGE_SAFETY"}, {"kind": "PartialFilter", "n":
// 2}, {"kind": "Latency", "delay": "250ms"}, {"kind": "Status", "code":
// 418, "body": "...", "headers": {"Retry-After": "3"}}, {"kind": "Hang"}.
// Durations are Go durations ("1.5s") or numbers of seconds; kind names
// ignore case.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("providertest: fault %s: %w", b, err)
	}
	kind := -1
	kinds := faultKinds()
	for i, name := range kinds {
		if strings.EqualFold(name, j.Kind) {
			kind = i
		}
	}
	dur := func(d *jsonDuration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	switch FaultKind(kind) {
	case KindNone:
		*f = FaultNone()
	case KindRateLimited:
		*f = RateLimited(dur(j.Retry))
	case KindRateLimitedUntil:
		if j.Until == nil {
			return fmt.Errorf("providertest: fault RateLimitedUntil needs \"until\" (RFC 3339)")
		}
		*f = RateLimitedUntil(*j.Until)
	case KindDailyQuotaExhausted:
		*f = DailyQuotaExhausted()
	case KindQuotaZero:
		*f = QuotaZero()
	case KindPaymentRequired:
		*f = PaymentRequired()
	case KindModelRetired:
		*f = ModelRetired()
	case KindUnavailable:
		*f = Unavailable()
	case KindProxyHTML502:
		*f = ProxyHTML502()
	case KindStatus:
		if j.Code < 100 || j.Code > 599 {
			return fmt.Errorf("providertest: fault Status needs \"code\" from 100 to 599, not %d", j.Code)
		}
		h := http.Header{}
		keys := make([]string, 0, len(j.Headers))
		for k := range j.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			h.Set(k, j.Headers[k])
		}
		*f = Status(j.Code, j.Body, h)
	case KindSafetyBlock:
		*f = SafetyBlock(j.Reason)
	case KindPromptBlocked:
		*f = PromptBlocked(j.Reason)
	case KindNoImage:
		*f = NoImage()
	case KindPartialFilter:
		*f = PartialFilter(j.N)
	case KindLatency:
		*f = Latency(dur(j.Delay))
	case KindHang:
		*f = Hang()
	case KindTruncated:
		*f = Truncated()
	case KindMalformed:
		*f = Malformed()
	case KindReset:
		*f = Reset()
	case KindStreamReset:
		*f = StreamReset()
	case KindStreamHang:
		*f = StreamHang()
	case KindStreamMalformed:
		*f = StreamMalformed()
	case KindStreamError:
		*f = StreamError()
	case KindStreamIncomplete:
		*f = StreamIncomplete()
	default:
		return fmt.Errorf("providertest: unknown fault kind %q; want one of %s", j.Kind, strings.Join(kinds[:], ", "))
	}
	return nil
}

// parseHeader reads headers in wire format ("Key: value\r\n").
func parseHeader(wire string) http.Header {
	if wire == "" {
		return nil
	}
	tp := textproto.NewReader(bufio.NewReader(strings.NewReader(wire + "\r\n")))
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil
	}
	return http.Header(h)
}

// jsonDuration reads a Go duration string ("7s") or a number of seconds,
// and writes the string.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = jsonDuration(v)
		return nil
	}
	secs, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("want a duration such as \"1.5s\" or a number of seconds, not %s", b)
	}
	*d = jsonDuration(time.Duration(secs * float64(time.Second)))
	return nil
}

// FaultRule is the JSON form of an Inject or InjectRandom call, as the
// control endpoint (POST /_emulator/faults) and the emulator's config file
// take it:
//
//	{"endpoint": "generateContent", "faults": [{"kind": "Unavailable"}, {"kind": "RateLimited", "retry": "7s"}]}
//	{"endpoint": "*", "probability": 0.2, "faults": [{"kind": "Unavailable"}, {"kind": "Reset"}]}
type FaultRule struct {
	// Endpoint is an Endpoint name ("generateContent", "images.edits", ...)
	// or "*" for every generation endpoint.
	Endpoint Endpoint `json:"endpoint"`
	// Probability 0 scripts Faults for the next calls, in order (Inject);
	// above 0 (at most 1) draws one of them on each call with that
	// probability (InjectRandom).
	Probability float64 `json:"probability,omitempty"`
	Faults      []Fault `json:"faults"`
}

// Apply injects the rule's faults into s; it refuses an unknown endpoint,
// a probability outside [0, 1] or an empty list.
func (r FaultRule) Apply(s *Server) error {
	if err := r.check(); err != nil {
		return err
	}
	if r.Probability > 0 {
		s.InjectRandom(r.Endpoint, r.Probability, r.Faults...)
	} else {
		s.Inject(r.Endpoint, r.Faults...)
	}
	return nil
}

func (r FaultRule) check() error {
	if !knownEndpoint(r.Endpoint) {
		names := make([]string, 0, len(Endpoints()))
		for _, e := range Endpoints() {
			names = append(names, string(e))
		}
		return fmt.Errorf("providertest: unknown endpoint %q; want \"*\" or one of %s", r.Endpoint, strings.Join(names, ", "))
	}
	if r.Probability < 0 || r.Probability > 1 {
		return fmt.Errorf("providertest: probability %v is outside [0, 1]", r.Probability)
	}
	if len(r.Faults) == 0 {
		return fmt.Errorf("providertest: no faults for %s", r.Endpoint)
	}
	return nil
}
