// Package redistest helps tests of imagegen's Redis stores: it reads
// REDIS_ADDR (skipping the test with a message saying how to run it when
// unset), gives each test its own key namespace and removes the keys after,
// and starts private redis-server processes that a test may stop and
// restart.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/internal/redisx"
)

// SkipMessage is why a Redis test skips without REDIS_ADDR.
const SkipMessage = "Redis tests need a server: REDIS_ADDR=127.0.0.1:6379 go test ./... (apt-get install redis-server)"

// Addr returns REDIS_ADDR, or skips t.
func Addr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		t.Skip(SkipMessage)
	}
	return addr
}

// NewClient returns a client for addr with the short timeouts the stores
// expect; t.Cleanup closes it.
func NewClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(Options(addr))
	t.Cleanup(func() { c.Close() })
	return c
}

// Timeout is the per-call timeout tests give the stores (their
// Options.Timeout) and the clients' read and write timeout: generous,
// because on a loaded machine a shared Redis is slow, not down, and a
// store that took slowness for an outage would fall back to memory and
// make the test's verdict a matter of luck. Outages in tests are real
// (a dead port, a killed server) and fail at once, whatever the timeout.
const Timeout = 10 * time.Second

// Options are the client options tests use: Timeout for reads and writes,
// context deadlines honoured, one retry.
func Options(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, DialTimeout: 5 * time.Second, ReadTimeout: Timeout,
		WriteTimeout: Timeout, ContextTimeoutEnabled: true, MaxRetries: 1,
		DisableIdentity: true, PoolSize: 64,
	}
}

// Client returns a client for REDIS_ADDR (skipping t without it), checked
// with a PING.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	c := NewClient(t, Addr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*Timeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("REDIS_ADDR=%s: %v", os.Getenv("REDIS_ADDR"), err)
	}
	return c
}

// Prefix returns a key prefix unique to this test ("imagegen-test:<random>:")
// and deletes every key under it when the test ends. It never flushes
// the server.
func Prefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	p := "imagegen-test:" + redisx.Token()[:12] + ":"
	t.Cleanup(func() { Clean(c, p) })
	return p
}

// Clean deletes every key under prefix.
func Clean(c redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			c.Del(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		c.Del(ctx, keys...)
	}
}

// Binary is where tests look for redis-server.
const Binary = "/usr/bin/redis-server"

// Server is a private redis-server process on a free loopback port.
type Server struct {
	Addr string
	dir  string
	args []string
	cmd  *exec.Cmd
	t    testing.TB
}

// FindBinary returns the redis-server binary's path, or "".
func FindBinary() string {
	if _, err := os.Stat(Binary); err == nil {
		return Binary
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return ""
}

// StartServer starts a private redis-server with persistence in a
// temporary directory (appendonly yes, appendfsync always: every write
// acknowledged is on disk) plus extra arguments, and stops it when the
// test ends. It skips t when redis-server is not installed.
func StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	if FindBinary() == "" {
		t.Skip("this test starts its own redis-server and none is installed (apt-get install redis-server)")
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: t.TempDir(), t: t}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir, "--daemonize", "no"}, extra...)
	t.Cleanup(s.Stop)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Start starts (or restarts) the server and waits until it answers.
func (s *Server) Start() error {
	if s.cmd != nil {
		return errors.New("redistest: server already running")
	}
	cmd := exec.Command(FindBinary(), s.args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	c := redis.NewClient(Options(s.Addr))
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redistest: redis-server on %s did not start: %w", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL, as a crash) and waits for it to
// exit. What was acknowledged under appendfsync always survives.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Stop kills the server if it runs; it is registered with t.Cleanup.
func (s *Server) Stop() { s.Kill() }

// Dir returns the server's data directory.
func (s *Server) Dir() string { return filepath.Clean(s.dir) }

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitUntil polls cond every few milliseconds until it holds or timeout
// has passed, and reports whether it held. Tests use it for what must
// happen "soon" (a store noticing an outage, a lease removed after a
// restart) with a generous timeout, instead of sleeping a fixed time and
// hoping the machine kept up.
func WaitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DeadClient returns a client for an address where no Redis answers: a
// listener this test holds (so no other process can take the port) that
// closes every connection at once. Every command fails at once with an
// outage error. t.Cleanup closes both.
func DeadClient(t testing.TB) *redis.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return NewClient(t, l.Addr().String())
}
