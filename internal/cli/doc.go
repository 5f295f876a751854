// Package cli holds the subcommands of cmd/imagegen that call providers or
// read what they spent: generate, edit, batch, models, cost and probe.
// Each is a func(ctx, args, stdout, stderr) error that parses its own flags;
// cmd/imagegen's main only dispatches by name. A usage or configuration
// mistake is a *provider.ConfigError (or a request the catalog refused
// before any call, see IsUsageError), for which the command exits 2.
//
// A command that calls providers opens a session from its common flags
// (--config, --emulator, --ledger, --label): the config file (package
// config), the catalog, the emulator when asked for, the ledger (package
// ledger) fed by the pricing meter's OnRecord, the budget and the cache.
// Providers are built on demand as stacks of ceiling → retry → rate limit →
// adapter, the config's routes as a failover over them, and requests go
// through cache → meter → that stack, the order provider's package doc
// recommends.
//
// Task APIs (Kie.ai, Replicate, APIMart; package taskapi) are providers
// of types kie, replicate and apimart, picked by a model ID's prefix
// ("kie/nano-banana-pro"), with the services' rate-limit presets.
//
// batch keeps its state in a journal (package batchstate) written before
// and after every paid call, with a Batch Mode job's name or a task's
// handle right after it was created; a rerun resumes those instead of
// paying again. probe writes its report through package probereport.
package cli
