package catalog_test

import (
	"fmt"
	"time"

	"github.com/imagegen-go/imagegen/catalog"
)

func Example() {
	cat := catalog.Default()
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

	m, _ := cat.Lookup("models/gemini-3-pro-image-preview")
	fmt.Println(m.ID, m.Status(at))
	cost, _ := m.Prices[catalog.TierStandard].ImageCost("4K")
	fmt.Println("4K image:", cost)

	live, chain, _ := cat.Resolve("imagen-4.0-fast-generate-001", at)
	fmt.Println(live.ID, chain)

	fmt.Println(cat.CheckLive("gemini-3-pro-image-preview", at))
	fmt.Println(cat.CheckLive("gemini-3.1-flash-image", at))
	f, _ := cat.Lookup("gemini-3.1-flash-image")
	fmt.Println(f.Warnings(at))
	// Output:
	// gemini-3-pro-image active
	// 4K image: $0.2400
	// gemini-nano-banana-2.1 [imagen-4.0-fast-generate-001 gemini-3.1-flash-image gemini-nano-banana-2.1]
	// gemini-3-pro-image-preview: model retired: gemini-3-pro-image-preview was shut down on 2026-06-25; use gemini-3-pro-image
	// <nil>
	// [gemini-3.1-flash-image is deprecated since 2026-10-06; use gemini-nano-banana-2.1]
}
