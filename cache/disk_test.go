package cache

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
)

// testKey returns the key of entry i and its deterministic image bytes.
func testKey(i int) string {
	s := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(s[:])
}

func testData(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

func testEntry(i, n int, now time.Time) *Entry {
	return &Entry{
		Images: []provider.Image{{Data: testData(i, n), MIMEType: "image/png", RevisedPrompt: "rp"}, {Data: []byte("second"), MIMEType: "image/jpeg"}},
		Text:   "t", Provider: "gemini", Model: "m", Usage: provider.Usage{OutputTokens: 1120, OutputImageTokens: 1120},
		Cost: 33_600, Warnings: []string{"w"}, Created: now,
	}
}

func checkEntry(t *testing.T, e *Entry, i, n int) {
	t.Helper()
	if len(e.Images) != 2 || !bytes.Equal(e.Images[0].Data, testData(i, n)) || string(e.Images[1].Data) != "second" ||
		e.Images[0].MIMEType != "image/png" || e.Images[0].RevisedPrompt != "rp" || e.Model != "m" || e.Cost != 33_600 ||
		e.Usage.OutputImageTokens != 1120 || e.Warnings[0] != "w" || e.Text != "t" {
		t.Fatalf("entry %d read back wrong: %+v", i, e.Images[0].MIMEType)
	}
}

func TestDiskRoundTripAndPermissions(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	dir := filepath.Join(t.TempDir(), "c")
	d, err := OpenDisk(dir, DiskConfig{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := testKey(1)
	e := testEntry(1, 5000, clk.Now())
	e.Expires = clk.Now().Add(time.Hour)
	if err := d.Set(ctx, k, e); err != nil {
		t.Fatal(err)
	}
	got, ok, err := d.Get(ctx, k)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	checkEntry(t, got, 1, 5000)
	p := filepath.Join(dir, k[:2], k[2:4], k)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v %v", fi.Mode(), err)
	}
	for _, sub := range []string{dir, filepath.Join(dir, k[:2]), filepath.Join(dir, k[:2], k[2:4])} {
		if di, _ := os.Stat(sub); di.Mode().Perm() != 0o700 {
			t.Errorf("%s mode %v", sub, di.Mode())
		}
	}
	// The file name is the key, and no prompt-like content is in the path.
	if filepath.Base(p) != k {
		t.Errorf("file %s", p)
	}
	// Reopen: the index is rebuilt.
	d2, _ := OpenDisk(dir, DiskConfig{Clock: clk})
	if n, b := d2.Len(); n != 1 || b != fi.Size() {
		t.Errorf("reopened index %d %d", n, b)
	}
	clk.Advance(time.Hour)
	if _, ok, _ := d2.Get(ctx, k); ok {
		t.Error("expired entry served")
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Error("expired entry kept on disk")
	}
	if _, _, err := d2.Get(ctx, "../../etc/passwd"); !errors.Is(err, ErrBadKey) {
		t.Errorf("bad key: %v", err)
	}
	if err := d2.Delete(ctx, testKey(99)); err != nil {
		t.Errorf("delete missing: %v", err)
	}
}

func TestDiskCorruptEntriesDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, _ := OpenDisk(dir, DiskConfig{})
	ctx := context.Background()
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b },          // flipped image bit
		func(b []byte) []byte { return b[:len(b)/2] },                 // truncated
		func(b []byte) []byte { b[headerSize+2] ^= 0x20; return b },   // damaged header
		func(b []byte) []byte { return nil },                          // empty
		func(b []byte) []byte { copy(b, "NOTCACHE"); return b },       // wrong magic
		func(b []byte) []byte { b[len(diskMagic)] ^= 0xff; return b }, // damaged checksum
	} {
		k := testKey(i)
		d.Set(ctx, k, testEntry(i, 100, t0))
		p := filepath.Join(dir, k[:2], k[2:4], k)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, damage(b), 0o600)
		if _, ok, err := d.Get(ctx, k); ok || err != nil {
			t.Errorf("damage %d: ok=%v err=%v", i, ok, err)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("damage %d: corrupt file kept", i)
		}
	}
}

// TestDiskOldFormatDropped: a file of format 2 (magic IGCACHE2 and a
// SHA-256 of the rest) is not read as an entry: it is a miss and deleted.
func TestDiskOldFormatDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := OpenDisk(dir, DiskConfig{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := AppendEntry(nil, testEntry(1, 100, t0))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	old := append(append([]byte("IGCACHE2"), sum[:]...), body...)
	k := testKey(1)
	p := filepath.Join(dir, k[:2], k[2:4], k)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := d.Get(context.Background(), k); ok || err != nil {
		t.Errorf("format 2 file: ok=%v err=%v", ok, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Error("format 2 file kept")
	}
}

func TestDiskEviction(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(t0)
	dir := t.TempDir()
	size := int64(len(mustEncode(testEntry(0, 1000, t0))))
	d, _ := OpenDisk(dir, DiskConfig{MaxBytes: 5 * size, Clock: clk})
	ctx := context.Background()
	for i := range 5 {
		clk.Advance(time.Second)
		d.Set(ctx, testKey(i), testEntry(i, 1000, t0))
	}
	clk.Advance(time.Second)
	d.Get(ctx, testKey(0)) // 0 is now recent; 1 is the oldest
	clk.Advance(time.Second)
	d.Set(ctx, testKey(5), testEntry(5, 1000, t0))
	// Over the bound: evicted down to 90% (4 entries of 5): 1 and 2 go.
	for i, want := range []bool{true, false, false, true, true, true} {
		if _, ok, _ := d.Get(ctx, testKey(i)); ok != want {
			t.Errorf("entry %d present=%v, want %v", i, ok, want)
		}
	}
	if _, b := d.Len(); b > 5*size {
		t.Errorf("%d bytes over the bound %d", b, 5*size)
	}
	// Temporary files are ignored, and removed once an hour old.
	tmp := filepath.Join(dir, "ab", tmpPrefix+"123")
	os.MkdirAll(filepath.Dir(tmp), 0o700)
	os.WriteFile(tmp, []byte("partial"), 0o600)
	os.Chtimes(tmp, t0, t0)
	d2, _ := OpenDisk(dir, DiskConfig{MaxBytes: 5 * size, Clock: clk})
	if _, err := os.Stat(tmp); err != nil {
		t.Error("recent temporary file removed: another process may be writing it")
	}
	if n, _ := d2.Len(); n != 4 {
		t.Errorf("temporary file indexed: %d entries", n)
	}
	clk.Advance(2 * time.Hour)
	OpenDisk(dir, DiskConfig{MaxBytes: 5 * size, Clock: clk})
	if _, err := os.Stat(tmp); err == nil {
		t.Error("orphaned temporary file kept")
	}
}

func mustEncode(e *Entry) []byte {
	b, err := encode(e)
	if err != nil {
		panic(err)
	}
	return b
}

// TestDiskSharedBetweenProcesses runs two stores on one directory (as two
// processes would), writing, reading and evicting concurrently.
func TestDiskSharedBetweenProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	size := int64(len(mustEncode(testEntry(0, 2000, t0))))
	a, _ := OpenDisk(dir, DiskConfig{MaxBytes: 20 * size})
	b, _ := OpenDisk(dir, DiskConfig{MaxBytes: 20 * size})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w, s := range []*Disk{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				k := (i*7 + w) % 40
				if i%2 == 0 {
					if err := s.Set(ctx, testKey(k), testEntry(k, 2000, t0)); err != nil {
						errs <- err
						return
					}
					continue
				}
				e, ok, err := s.Get(ctx, testKey(k))
				if err != nil {
					errs <- err
					return
				}
				if ok && !bytes.Equal(e.Images[0].Data, testData(k, 2000)) {
					errs <- fmt.Errorf("entry %d torn", k)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c, _ := OpenDisk(dir, DiskConfig{MaxBytes: 20 * size})
	if _, total := c.Len(); total > 20*size+2*(2*size+size) {
		t.Errorf("shared directory holds %d bytes, bound %d", total, 20*size)
	}
}

// TestDiskCacheSurvivesKill runs a child that writes entries in a loop,
// printing each acknowledged key, kills it with SIGKILL, and checks that
// every acknowledged entry reads back intact and that every file either
// reads intact or is dropped.
func TestDiskCacheSurvivesKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("subprocess")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=disk", helperEnv+"_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked []int
	killed := false
	for sc.Scan() {
		i, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "OK "))
		if err != nil {
			continue
		}
		acked = append(acked, i)
		if len(acked) == 150 && !killed {
			killed = true
			cmd.Process.Kill()
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d entries", len(acked))
	}
	d, err := OpenDisk(dir, DiskConfig{MaxBytes: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, i := range acked {
		e, ok, err := d.Get(ctx, testKey(i))
		if err != nil || !ok {
			t.Fatalf("acknowledged entry %d lost: %v %v", i, ok, err)
		}
		checkEntry(t, e, i, helperSize(i))
	}
	// Every file in the directory is whole or dropped.
	max := acked[len(acked)-1] + 5
	for i := 0; i <= max; i++ {
		e, ok, err := d.Get(ctx, testKey(i))
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			checkEntry(t, e, i, helperSize(i))
		}
	}
	t.Logf("killed after %d acknowledged writes", len(acked))
}

func helperSize(i int) int { return 64<<10 + i%7*1000 }

// TestHelperProcess is the child of the crash test; it does nothing in a
// normal run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "disk" {
		return
	}
	d, err := OpenDisk(os.Getenv(helperEnv+"_DIR"), DiskConfig{MaxBytes: 1 << 40})
	if err != nil {
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := d.Set(context.Background(), testKey(i), testEntry(i, helperSize(i), time.Now())); err != nil {
			os.Exit(3)
		}
		fmt.Println("OK", i)
	}
}
