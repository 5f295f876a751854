package taskapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/imagegen-go/imagegen/provider"
	"github.com/imagegen-go/imagegen/provider/providertest"
	"github.com/imagegen-go/imagegen/taskapi"
)

// The emulator stands in for Kie.ai here; against the real service, use
// taskapi.Kie(os.Getenv("KIE_API_KEY")) as it is.
func ExampleGenerator_Generate() {
	clk := providertest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	emu := providertest.NewServer(providertest.Options{APIKey: "key", Clock: clk})
	defer emu.Close()

	cfg := taskapi.Kie("key")
	cfg.BaseURL, cfg.UploadURL, cfg.HTTPClient, cfg.Clock = emu.KieURL(), emu.KieURL(), emu.Client(), clk
	cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true} // the emulator's files are on loopback
	g, err := taskapi.New(cfg)
	if err != nil {
		panic(err)
	}
	resp, err := g.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse at dusk", N: 2, Size: "2K"})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Provider, resp.Model, len(resp.Images), "images,", resp.Cost, "(Kie's creditsConsumed)")
	// Output: kie kie/nano-banana-pro 2 images, $0.1800 (Kie's creditsConsumed)
}

// Submit returns at once; the handle, saved as JSON, is all a later
// process needs to collect the result.
func ExampleGenerator_Submit() {
	clk := providertest.NewClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	emu := providertest.NewServer(providertest.Options{APIKey: "key", Clock: clk})
	defer emu.Close()
	cfg := taskapi.Replicate("key")
	cfg.BaseURL, cfg.HTTPClient, cfg.Clock = emu.ReplicateURL(), emu.Client(), clk
	cfg.Fetch = taskapi.FetchPolicy{AllowHTTP: true, AllowPrivate: true}
	g, err := taskapi.New(cfg)
	if err != nil {
		panic(err)
	}

	task, err := g.Submit(context.Background(), &provider.Request{Prompt: "a red fox in the snow"})
	if err != nil {
		panic(err)
	}
	saved, _ := json.Marshal(task.Handle())

	// After a restart:
	var h taskapi.Handle
	if err := json.Unmarshal(saved, &h); err != nil {
		panic(err)
	}
	resumed, err := g.Resume(h)
	if err != nil {
		panic(err)
	}
	resp, err := resumed.Result(context.Background())
	if err != nil {
		panic(err)
	}
	st, _ := resumed.Status(context.Background())
	fmt.Println(h.Service, h.Model, st.State, len(resp.Images), "image")
	// Output: replicate replicate/google/nano-banana-pro succeeded 1 image
}

// One handler serves both services' callbacks; give it to every
// generator as Config.Webhooks.
func ExampleNewWebhooks() {
	hooks, err := taskapi.NewWebhooks(taskapi.WebhookConfig{
		URL:             "https://example.com/hooks", // where the services reach it
		ReplicateSecret: "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		KieKey:          "kie-webhook-hmac-key",
	})
	if err != nil {
		panic(err)
	}
	// A Replicate delivery, signed as Replicate signs it.
	key, _ := taskapi.SigningKey("whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	body := `{"id":"gm3qorzdhgbfurvjtvhg6dckhu","status":"succeeded","output":"https://replicate.delivery/x.png"}`
	now := time.Now().Unix()
	for _, d := range []struct{ id, sig string }{
		{"msg_1", taskapi.SignReplicate(key, "msg_1", now, []byte(body))},
		{"msg_2", "v1,Zm9yZ2Vk"}, // forged
	} {
		req := httptest.NewRequest(http.MethodPost, "/hooks", strings.NewReader(body))
		req.Header.Set("webhook-id", d.id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("webhook-signature", d.sig)
		rec := httptest.NewRecorder()
		hooks.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// 200
	// 401
}
