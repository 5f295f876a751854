package failover_test

import (
	"context"
	"fmt"

	"github.com/imagegen-go/imagegen/failover"
	"github.com/imagegen-go/imagegen/provider"
)

// A primary that is overloaded and a secondary that serves: the response
// says who served, and the primary's failure is kept as a warning.
func ExampleNew() {
	primary := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return nil, &provider.Error{Kind: provider.KindUnavailable, Provider: "primary", StatusCode: 503, Message: "overloaded"}
	})
	secondary := provider.GeneratorFunc(func(context.Context, *provider.Request) (*provider.Response, error) {
		return &provider.Response{Provider: "secondary", Model: "model-b", Images: []provider.Image{{Data: []byte("...")}}}, nil
	})
	f, err := failover.New(failover.Config{Routes: []failover.Route{
		{Name: "primary", Generator: primary, Priority: 0},
		{Name: "secondary", Generator: secondary, Priority: 1},
	}})
	if err != nil {
		panic(err)
	}
	resp, err := f.Generate(context.Background(), &provider.Request{Prompt: "a lighthouse"})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Provider, resp.Model, resp.Attempts)
	fmt.Println(resp.Warnings[0])
	// Output:
	// secondary model-b 2
	// failover: route primary failed: primary: provider unavailable (503): overloaded
}
