// Package batchstate is the state file of `imagegen batch`: what each item
// of a batch has become, kept so that a rerun after a crash skips what is
// done and never pays twice.
//
// The file is an append-only journal, one JSON event a line, each written
// with one write and synced before the call that follows it:
//
//	{"event":"start","key":"k1","fp":"…"}           before a paid call
//	{"event":"done","key":"k1","files":[…],"cost":"0.039"}  after it, images on disk
//	{"event":"fail","key":"k1","error":"…","kind":"rate limited"}
//	{"event":"submit","keys":["k1","k2"]}            before a Batch Mode job is created
//	{"event":"job","job":"batches/…","keys":[…]}     right after it was created
//	{"event":"job_end","job":"batches/…"}            once its results are recorded
//	{"event":"task","key":"k1","handle":{…}}         a task API's handle, right after submit
//
// A process killed at any instant leaves whole lines and at worst a torn
// last line, which Open drops (it was never acknowledged, so the call it
// announced was not made). Replaying the journal gives each item's Status:
// an item started but neither done nor failed was in flight when a run
// stopped — it may have been billed, so a rerun does not send it again
// unless asked to. A journal much longer than its items is compacted on
// Open (written whole to a temporary file, synced and renamed over it).
package batchstate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/imagegen-go/imagegen/internal/atomicfile"
	"github.com/imagegen-go/imagegen/provider"
)

// Status is where an item stands.
type Status int

// The statuses of an item.
const (
	Pending   Status = iota // never sent, or nothing known
	InFlight                // sent (or about to be) when a run stopped: may have been billed
	Submitted               // in a Batch Mode job that is not finished
	Task                    // a task API handle is saved: resume it, never resubmit
	Done                    // images written
	Failed                  // the call failed
)

var statusNames = [...]string{"pending", "in flight", "submitted", "task", "done", "failed"}

// String returns the status's name.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Event is one line of the journal.
type Event struct {
	Event    string          `json:"event"`
	Time     time.Time       `json:"time"`
	Key      string          `json:"key,omitempty"`
	Keys     []string        `json:"keys,omitempty"`
	FP       string          `json:"fp,omitempty"`  // fingerprint of the item's request
	FPs      []string        `json:"fps,omitempty"` // submit: the fingerprints of Keys
	Files    []string        `json:"files,omitempty"`
	Provider string          `json:"provider,omitempty"`
	Model    string          `json:"model,omitempty"`
	Cost     provider.USD    `json:"cost,omitzero"`
	Error    string          `json:"error,omitempty"`
	Kind     string          `json:"kind,omitempty"`
	Final    bool            `json:"final,omitempty"` // a failure a rerun does not retry by default
	Job      string          `json:"job,omitempty"`
	Handle   json.RawMessage `json:"handle,omitempty"`
}

// Item is the state of one item, replayed from the journal.
type Item struct {
	Key      string
	Status   Status
	FP       string
	Files    []string
	Provider string
	Model    string
	Cost     provider.USD // what the done item cost
	Error    string
	Kind     string
	Final    bool
	Job      string          // the Batch Mode job holding it (Submitted)
	Handle   json.RawMessage // the task handle (Task)
	Attempts int             // calls started for it, all runs together
}

// Job is a Batch Mode job the journal knows.
type Job struct {
	Name  string
	Keys  []string
	Ended bool
}

// Journal is an open state file. It is safe for concurrent use.
type Journal struct {
	mu    sync.Mutex
	f     *os.File
	path  string
	items map[string]*Item
	jobs  []*Job
	now   func() time.Time
	lines int
}

// Open opens (or creates) the journal at path and replays it.
func Open(path string) (*Journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("batch state: %w", err)
	}
	j := &Journal{path: path, items: map[string]*Item{}, now: time.Now}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("batch state: %w", err)
	}
	whole := data
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		whole = data[:i+1] // a torn last line was never acknowledged
	}
	if err := j.replay(whole); err != nil {
		return nil, fmt.Errorf("batch state %s: %w", path, err)
	}
	if j.lines > 4*len(j.items)+64 {
		if err := j.compact(); err != nil {
			return nil, err
		}
	} else if len(whole) < len(data) {
		if err := os.Truncate(path, int64(len(whole))); err != nil {
			return nil, fmt.Errorf("batch state: %w", err)
		}
	}
	j.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("batch state: %w", err)
	}
	return j, nil
}

func (j *Journal) replay(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		j.apply(e)
		j.lines++
	}
	return sc.Err()
}

func (j *Journal) item(key string) *Item {
	it, ok := j.items[key]
	if !ok {
		it = &Item{Key: key}
		j.items[key] = it
	}
	return it
}

func (j *Journal) job(name string) *Job {
	for _, jb := range j.jobs {
		if jb.Name == name {
			return jb
		}
	}
	jb := &Job{Name: name}
	j.jobs = append(j.jobs, jb)
	return jb
}

// apply changes the replayed state by one event.
func (j *Journal) apply(e Event) {
	switch e.Event {
	case "start":
		it := j.item(e.Key)
		it.Status, it.FP, it.Error, it.Kind, it.Final, it.Job = InFlight, e.FP, "", "", false, ""
		it.Attempts++
	case "done":
		it := j.item(e.Key)
		it.Status, it.Files, it.Provider, it.Model, it.Cost = Done, e.Files, e.Provider, e.Model, e.Cost
		it.Error, it.Kind, it.Final, it.Handle = "", "", false, nil
		if e.FP != "" {
			it.FP = e.FP
		}
	case "fail":
		it := j.item(e.Key)
		it.Status, it.Error, it.Kind, it.Final, it.Handle = Failed, e.Error, e.Kind, e.Final, nil
		if e.FP != "" {
			it.FP = e.FP
		}
	case "submit":
		for i, k := range e.Keys {
			it := j.item(k)
			it.Status, it.Job, it.Error, it.Kind, it.Final = InFlight, "", "", "", false
			if i < len(e.FPs) {
				it.FP = e.FPs[i]
			}
			it.Attempts++
		}
	case "job":
		jb := j.job(e.Job)
		jb.Keys = e.Keys
		for _, k := range e.Keys {
			it := j.item(k)
			it.Status, it.Job = Submitted, e.Job
		}
	case "job_end":
		jb := j.job(e.Job)
		jb.Ended = true
		for _, k := range jb.Keys {
			if it := j.item(k); it.Status == Submitted {
				// The job ended without a result for it: nothing was billed.
				it.Status, it.Error, it.Kind = Failed, "no result in job "+e.Job, e.Kind
				if e.Error != "" {
					it.Error = e.Error
				}
			}
		}
	case "task":
		it := j.item(e.Key)
		it.Status, it.Handle = Task, e.Handle
		if e.FP != "" {
			it.FP = e.FP
		}
	}
}

// append writes e as one synced line and applies it.
func (j *Journal) append(e Event) error {
	if e.Time.IsZero() {
		e.Time = j.now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("batch state: %w", err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("batch state: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("batch state: %w", err)
	}
	j.apply(e)
	j.lines++
	return nil
}

// Path returns the journal's path.
func (j *Journal) Path() string { return j.path }

// Item returns the state of key (Pending when the journal never saw it).
func (j *Journal) Item(key string) Item {
	j.mu.Lock()
	defer j.mu.Unlock()
	if it, ok := j.items[key]; ok {
		c := *it
		c.Files = slices.Clone(it.Files)
		return c
	}
	return Item{Key: key}
}

// Items returns the state of every item the journal knows, by key.
func (j *Journal) Items() map[string]Item {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[string]Item, len(j.items))
	for k, it := range j.items {
		out[k] = *it
	}
	return out
}

// OpenJobs returns the Batch Mode jobs not yet ended, oldest first.
func (j *Journal) OpenJobs() []Job {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Job
	for _, jb := range j.jobs {
		if !jb.Ended {
			out = append(out, Job{Name: jb.Name, Keys: slices.Clone(jb.Keys)})
		}
	}
	return out
}

// Start records that a paid call for key is about to be made. Call it
// before the call: if the process dies during the call, the item is
// InFlight on the next Open, not Pending.
func (j *Journal) Start(key, fp string) error {
	return j.append(Event{Event: "start", Key: key, FP: fp})
}

// Done records that key's images are written to files.
func (j *Journal) Done(key string, files []string, prov, model string, cost provider.USD) error {
	return j.append(Event{Event: "done", Key: key, Files: files, Provider: prov, Model: model, Cost: cost})
}

// Fail records that key's call failed; final failures (a blocked prompt,
// an invalid request) are not retried by a rerun unless asked.
func (j *Journal) Fail(key string, err error, final bool) error {
	return j.append(Event{Event: "fail", Key: key, Error: err.Error(), Kind: provider.KindOf(err).String(), Final: final})
}

// Submit records, before a Batch Mode job is created, the items it will
// hold with their fingerprints: if the process dies before Job, they are
// InFlight (the job may exist) rather than Pending.
func (j *Journal) Submit(keys, fps []string) error {
	return j.append(Event{Event: "submit", Keys: keys, FPs: fps})
}

// Job records a Batch Mode job's name right after it was created.
func (j *Journal) Job(name string, keys []string) error {
	return j.append(Event{Event: "job", Job: name, Keys: keys})
}

// JobEnd records that a job's results are all recorded; items of it still
// Submitted become Failed with reason (a job that failed or expired).
func (j *Journal) JobEnd(name string, reason error) error {
	e := Event{Event: "job_end", Job: name}
	if reason != nil {
		e.Error, e.Kind = reason.Error(), provider.KindOf(reason).String()
	}
	return j.append(e)
}

// Task records a task API's handle for key right after the task was
// submitted. A rerun resumes the handle (Wait, Result) instead of
// submitting again; Done or Fail close it.
//
// This is the extension point for a task mode of `imagegen batch` (package
// taskapi's Submit returns a handle that can be saved and resumed): items
// in Status Task are listed by Tasks.
func (j *Journal) Task(key, fp string, handle json.RawMessage) error {
	return j.append(Event{Event: "task", Key: key, FP: fp, Handle: handle})
}

// Tasks returns the items whose task handle is saved and not finished.
func (j *Journal) Tasks() []Item {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Item
	for _, it := range j.items {
		if it.Status == Task {
			out = append(out, *it)
		}
	}
	slices.SortFunc(out, func(a, b Item) int { return cmpString(a.Key, b.Key) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// snapshot returns the events that rebuild the current state.
func (j *Journal) snapshot() []Event {
	var evs []Event
	keys := make([]string, 0, len(j.items))
	for k := range j.items {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	now := j.now().UTC()
	for _, jb := range j.jobs {
		if !jb.Ended {
			evs = append(evs, Event{Event: "job", Time: now, Job: jb.Name, Keys: jb.Keys})
		}
	}
	for _, k := range keys {
		it := j.items[k]
		switch it.Status {
		case InFlight:
			evs = append(evs, Event{Event: "start", Time: now, Key: k, FP: it.FP})
		case Done:
			evs = append(evs, Event{Event: "done", Time: now, Key: k, FP: it.FP, Files: it.Files, Provider: it.Provider, Model: it.Model, Cost: it.Cost})
		case Failed:
			evs = append(evs, Event{Event: "fail", Time: now, Key: k, FP: it.FP, Error: it.Error, Kind: it.Kind, Final: it.Final})
		case Task:
			evs = append(evs, Event{Event: "task", Time: now, Key: k, FP: it.FP, Handle: it.Handle})
		}
	}
	return evs
}

// compact rewrites the journal as a snapshot, atomically: a temporary
// file, synced, renamed over the journal, the directory synced.
func (j *Journal) compact() error {
	evs := j.snapshot()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range evs {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("batch state: %w", err)
		}
	}
	if err := atomicfile.Write(j.path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("batch state: %w", err)
	}
	j.lines = len(evs)
	return nil
}

var _ io.Closer = (*Journal)(nil)
