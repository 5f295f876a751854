// Command replicas runs several processes of one service that share their
// provider quota, budget, cache and provider health through one Redis:
//
//	cache(Redis) → pricing meter/budget(Redis) → failover health(Redis) → rate limit(Redis) → gemini adapter
//
// The parent starts the emulator (enforcing 120 requests a minute, like the
// provider's quota) and four child processes of itself; each child sends
// requests from a shared pool of prompts for one minute. The minute is
// simulated: every process and the emulator run on a clock 30 times faster
// than real time, so the run takes about two seconds. Together the
// replicas stay within the shared 120-a-minute limit (the emulator answers
// no 429), spend from one budget, and serve each other's cached images.
//
//	REDIS_ADDR=127.0.0.1:6379 go run ./examples/replicas
//
// Without REDIS_ADDR it starts a private redis-server on a free port when
// /usr/bin/redis-server exists (apt-get install redis-server), and
// otherwise says how to run it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imagegen-go/imagegen/cache"
	"github.com/imagegen-go/imagegen/cache/rediscache"
	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/failover/redishealth"
	"github.com/imagegen-go/imagegen/gemini"
	"github.com/imagegen-go/imagegen/pricing"
	"github.com/imagegen-go/imagegen/pricing/redisledger"
	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/provider/ratelimit"
	"github.com/imagegen-go/imagegen/provider/ratelimit/redisstore"
	"github.com/imagegen-go/imagegen/provider/redisopt"
)

const (
	replicas  = 4
	workers   = 8   // concurrent requests per replica
	perMinute = 120 // the provider's quota, shared by the replicas
	speedup   = 30  // simulated seconds per real second
	prompts   = 300 // distinct prompts; repeats are cache hits
	apiKey    = "emulator-key"
	model     = "gemini-2.5-flash-image"
)

const budget = 5 * provider.Dollar // daily, shared

func main() {
	replica := flag.Int("replica", -1, "run as replica N (internal: the parent starts the replicas)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: replicas\n\nStarts %d processes sharing one Redis (REDIS_ADDR, or a private redis-server)\nand prints the shared limit and spend. Exits with status 1 when a replica fails.\n\n", replicas)
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *replica >= replicas {
		fmt.Fprintf(os.Stderr, "replicas: want no arguments and -replica below %d (see -h)\n", replicas)
		os.Exit(2)
	}
	var err error
	if *replica >= 0 {
		err = runReplica(context.Background(), *replica, os.Stdout)
	} else {
		err = run(context.Background(), os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "replicas:", err)
		os.Exit(1)
	}
}

// clock runs speedup times faster than real time from epoch.
type clock struct{ epoch time.Time }

func (c clock) Now() time.Time {
	return c.epoch.Add(time.Since(c.epoch) * speedup)
}

func (c clock) After(d time.Duration) <-chan time.Time { return time.After(d / speedup) }

// result is what a replica reports to the parent.
type result struct {
	Upstream    int          `json:"upstream"`     // served by the provider
	CacheHits   int          `json:"cache_hits"`   // served from the shared cache
	RateLimited int          `json:"rate_limited"` // refused by the shared limiter
	OverBudget  int          `json:"over_budget"`  // refused by the shared budget
	Errors      int          `json:"errors"`
	Spent       provider.USD `json:"spent"` // what this replica spent
}

func run(ctx context.Context, w io.Writer) error {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		a, stop, err := startRedis()
		if err != nil {
			return fmt.Errorf("replicas needs Redis: REDIS_ADDR=127.0.0.1:6379 go run ./examples/replicas (apt-get install redis-server): %w", err)
		}
		defer stop()
		addr = a
		fmt.Fprintf(w, "started a private redis-server on %s\n", addr)
	}
	rdb := redis.NewClient(clientOptions(addr))
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", addr, err)
	}
	prefix := "imagegen-example:" + strconv.FormatUint(rand.Uint64(), 36) + ":"
	defer clean(rdb, prefix)

	clk := clock{epoch: time.Now().Add(1500 * time.Millisecond)} // time for the children to start
	emu := providertest.NewServer(providertest.Options{APIKey: apiKey, RequestsPerMinute: perMinute, Clock: clk})
	defer emu.Close()
	fmt.Fprintf(w, "%d replicas × %d workers share %d requests/minute and a %v daily budget through Redis; simulated minute ×%d\n",
		replicas, workers, perMinute, budget, speedup)

	results := make([]result, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = startReplica(ctx, i, addr, prefix, emu.URL(), clk)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var tot result
	for i, r := range results {
		fmt.Fprintf(w, "replica %d: %3d from the provider, %3d cache hits, %3d rate-limited, %3d over budget, spent %v\n",
			i, r.Upstream, r.CacheHits, r.RateLimited, r.OverBudget, r.Spent)
		tot.Upstream += r.Upstream
		tot.CacheHits += r.CacheHits
		tot.Errors += r.Errors
		tot.Spent += r.Spent
	}
	ledger, err := redisledger.New(rdb, redisledger.Options{Common: redisopt.Common{Prefix: prefix}})
	if err != nil {
		return err
	}
	day := time.Now().UTC().Format(time.DateOnly)
	spent, _, err := ledger.Spent(ctx, pricing.StoreKey(pricing.ScopeOverall, pricing.PeriodDaily, day))
	if err != nil {
		return err
	}
	st := emu.Stats()
	used := 0
	for _, r := range emu.Requests() {
		if r.Endpoint == providertest.EndpointGenerateContent && r.Time.Before(clk.epoch.Add(time.Minute)) {
			used++
		}
	}
	fmt.Fprintf(w, "shared limit: %d of %d requests/minute used (%.0f%%); the emulator answered %d with 429\n",
		used, perMinute, 100*float64(used)/perMinute, st.RateLimited)
	fmt.Fprintf(w, "shared cache: %d requests served from entries another request (often another replica) stored\n", tot.CacheHits)
	fmt.Fprintf(w, "shared spend: %v in the Redis ledger (replicas report %v) of a %v budget\n", spent, tot.Spent, budget)
	if tot.Errors > 0 {
		return fmt.Errorf("%d requests failed", tot.Errors)
	}
	return nil
}

// startReplica runs replica i as a child process and decodes its result.
func startReplica(ctx context.Context, i int, addr, prefix, emuURL string, clk clock) (result, error) {
	cmd := exec.CommandContext(ctx, os.Args[0], "-replica", strconv.Itoa(i))
	cmd.Env = append(os.Environ(), "REDIS_ADDR="+addr, "REPLICAS_PREFIX="+prefix, "REPLICAS_EMULATOR="+emuURL,
		"REPLICAS_EPOCH="+strconv.FormatInt(clk.epoch.UnixNano(), 10))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("replica %d: %w", i, err)
	}
	var r result
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			return r, json.Unmarshal([]byte(line), &r)
		}
	}
	return r, fmt.Errorf("replica %d reported nothing", i)
}

func clientOptions(addr string) *redis.Options {
	return &redis.Options{Addr: addr, DialTimeout: 250 * time.Millisecond, ReadTimeout: time.Second,
		WriteTimeout: time.Second, ContextTimeoutEnabled: true, DisableIdentity: true}
}

var errLate = errors.New("after the demo's minute")

// runReplica is one process of the service.
func runReplica(ctx context.Context, id int, w io.Writer) error {
	for _, k := range []string{"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GEMINI_BASE_URL"} {
		os.Unsetenv(k)
	}
	ns, err := strconv.ParseInt(os.Getenv("REPLICAS_EPOCH"), 10, 64)
	if err != nil {
		return err
	}
	clk := clock{epoch: time.Unix(0, ns)}
	prefix := os.Getenv("REPLICAS_PREFIX")
	rdb := redis.NewClient(clientOptions(os.Getenv("REDIS_ADDR")))
	defer rdb.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	adapter, err := gemini.New(ctx, gemini.Config{APIKey: apiKey, BaseURL: os.Getenv("REPLICAS_EMULATOR"), HTTPClient: &http.Client{Transport: tr}, Model: model})
	if err != nil {
		return err
	}
	end := clk.epoch.Add(time.Minute)
	// The demo counts one minute: a slot the limiter grants for after it
	// is not used.
	inMinute := provider.GeneratorFunc(func(ctx context.Context, req *provider.Request) (*provider.Response, error) {
		if !clk.Now().Before(end) {
			return nil, errLate
		}
		return adapter.Generate(ctx, req)
	})
	common := redisopt.Common{Prefix: prefix, Logger: logger} // one value configures the four stores
	limitStore, err := redisstore.New(rdb, redisstore.Options{Common: common})
	if err != nil {
		return err
	}
	limits, err := ratelimit.New(ratelimit.Config{
		Key: "gemini-project", RequestsPerMinute: perMinute, Clock: clk, Store: limitStore,
	})
	if err != nil {
		return err
	}
	limited := provider.Chain(provider.Wrap(adapter, inMinute.Generate), limits)
	health, err := redishealth.New(rdb, redishealth.Options{Common: common})
	if err != nil {
		return err
	}
	routes, err := failover.New(failover.Config{
		Routes:     []failover.Route{{Name: "gemini", Generator: limited}},
		Clock:      clk,
		NewBreaker: health.NewBreaker,
	})
	if err != nil {
		return err
	}
	ledger, err := redisledger.New(rdb, redisledger.Options{Common: common})
	if err != nil {
		return err
	}
	budgetCap, err := pricing.NewBudget(pricing.BudgetConfig{Store: ledger, Limits: pricing.Limits{Daily: budget}})
	if err != nil {
		return err
	}
	meter, err := pricing.NewMeter(pricing.MeterConfig{Budget: budgetCap})
	if err != nil {
		return err
	}
	cacheStore, err := rediscache.New(rdb, rediscache.Options{Common: common})
	if err != nil {
		return err
	}
	cached, err := cache.New(cache.Config{Store: cacheStore, Namespace: "gemini"})
	if err != nil {
		return err
	}
	gen := provider.Chain(routes, cached, meter.Middleware())

	time.Sleep(time.Until(clk.epoch))
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(id), uint64(wk)))
			for clk.Now().Before(end) {
				req := &provider.Request{Prompt: fmt.Sprintf("a lighthouse on a cliff, study #%d", rng.IntN(prompts))}
				resp, err := gen.Generate(ctx, req)
				mu.Lock()
				switch {
				case errors.Is(err, errLate):
				case err == nil && resp.Cached:
					res.CacheHits++
				case err == nil:
					res.Upstream++
					res.Spent += resp.Cost
				case errors.Is(err, provider.ErrBudgetExceeded):
					res.OverBudget++
				case errors.Is(err, provider.ErrRateLimited):
					res.RateLimited++
				default:
					res.Errors++
					logger.Error("request failed", "replica", id, "err", err)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	b, _ := json.Marshal(res)
	fmt.Fprintf(w, "RESULT %s\n", b)
	return nil
}

// startRedis starts a private redis-server on a free port.
func startRedis() (string, func(), error) {
	bin := "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("redis-server")
		if lerr != nil {
			return "", nil, errors.New("REDIS_ADDR is not set and redis-server is not installed")
		}
		bin = p
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "replicas-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(clientOptions(addr))
	defer c.Close()
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("redis-server did not start")
}

// clean deletes the run's keys.
func clean(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}
