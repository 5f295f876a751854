package config_test

import (
	"fmt"

	"github.com/imagegen-go/imagegen/internal/cli/config"
)

// A mistake names the file, line, column and key.
func ExampleParse() {
	_, err := config.Parse("imagegen.toml", []byte(`
[providers.gemini]
model = "gemini-nano-banana-2.1"
limits = { requets_per_minute = 60 }
`))
	fmt.Println(err)
	// Output:
	// imagegen: invalid configuration: imagegen.toml:4:12: providers.gemini.limits.requets_per_minute: unknown key (did you mean "requests_per_minute"?)
}
