package batchstate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imagegen-go/imagegen/provider"
)

func open(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestReplay(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s", "state.jsonl")
	j := open(t, path)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.Start("a", "fa"))
	must(j.Done("a", []string{"out/a-1.png"}, "gemini", "m", 39_000))
	must(j.Start("b", "fb"))
	must(j.Fail("b", &provider.Error{Kind: provider.KindContentBlocked, Message: "no"}, true))
	must(j.Start("c", "fc")) // in flight at the "crash"
	must(j.Submit([]string{"d", "e"}, []string{"fd", "fe"}))
	must(j.Job("batches/1", []string{"d", "e"}))
	must(j.Submit([]string{"f"}, []string{"ff"})) // the job was never saved
	must(j.Task("g", "fg", json.RawMessage(`{"id":"t1"}`)))
	j.Close()

	j2 := open(t, path)
	for key, want := range map[string]Status{"a": Done, "b": Failed, "c": InFlight, "d": Submitted, "e": Submitted,
		"f": InFlight, "g": Task, "z": Pending} {
		if got := j2.Item(key).Status; got != want {
			t.Errorf("%s: %s, want %s", key, got, want)
		}
	}
	if it := j2.Item("a"); it.Cost != 39_000 || it.Files[0] != "out/a-1.png" || it.FP != "fa" || it.Attempts != 1 {
		t.Errorf("a: %+v", it)
	}
	if it := j2.Item("b"); !it.Final || it.Kind != "content blocked" {
		t.Errorf("b: %+v", it)
	}
	if jobs := j2.OpenJobs(); len(jobs) != 1 || jobs[0].Name != "batches/1" || len(jobs[0].Keys) != 2 {
		t.Errorf("jobs %+v", jobs)
	}
	if ts := j2.Tasks(); len(ts) != 1 || string(ts[0].Handle) != `{"id":"t1"}` {
		t.Errorf("tasks %+v", ts)
	}
	// A job that expired fails the items it still held; done ones stay.
	must(j2.Done("d", nil, "gemini", "m", 1))
	must(j2.JobEnd("batches/1", &provider.Error{Kind: provider.KindUnavailable, Message: "expired"}))
	if d, e := j2.Item("d"), j2.Item("e"); d.Status != Done || e.Status != Failed || !strings.Contains(e.Error, "expired") {
		t.Errorf("after job_end: %+v %+v", d, e)
	}
	if len(j2.OpenJobs()) != 0 {
		t.Error("job still open")
	}
}

// TestTornLastLine: a crash in the middle of a write leaves a partial
// line; it is dropped (never acknowledged) and the next append starts on a
// line of its own.
func TestTornLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	j := open(t, path)
	if err := j.Start("a", "fa"); err != nil {
		t.Fatal(err)
	}
	j.Close()
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"event":"done","key":"a","fi`)
	f.Close()
	j2 := open(t, path)
	if st := j2.Item("a").Status; st != InFlight {
		t.Errorf("a: %s", st)
	}
	if err := j2.Done("a", nil, "p", "m", 1); err != nil {
		t.Fatal(err)
	}
	j2.Close()
	j3 := open(t, path)
	if st := j3.Item("a").Status; st != Done {
		t.Errorf("after a torn line and a new append: %s", st)
	}
}

func TestCorruptLineIsAnError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	os.WriteFile(path, []byte("{\"event\":\"start\",\"key\":\"a\"}\nnot json\n{\"event\":\"start\",\"key\":\"b\"}\n"), 0o644)
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("%v", err)
	}
}

func TestCompaction(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.jsonl")
	j := open(t, path)
	for range 60 { // many retries of one item
		j.Start("a", "fa")
		j.Fail("a", errors.New("boom"), false)
	}
	j.Start("b", "fb")
	j.Done("b", []string{"b-1.png"}, "p", "m", 7)
	j.Submit([]string{"c"}, []string{"fc"})
	j.Job("batches/9", []string{"c"})
	j.Close()
	before, _ := os.ReadFile(path)
	j2 := open(t, path)
	after, _ := os.ReadFile(path)
	if len(after) >= len(before)/4 {
		t.Errorf("not compacted: %d → %d bytes", len(before), len(after))
	}
	if a, b, c := j2.Item("a"), j2.Item("b"), j2.Item("c"); a.Status != Failed || b.Status != Done || b.Cost != 7 ||
		c.Status != Submitted || c.Job != "batches/9" {
		t.Errorf("after compaction: %+v %+v %+v", a, b, c)
	}
}
