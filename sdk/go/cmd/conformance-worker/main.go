// Command conformance-worker is the Go SDK's conformance worker (tests/conformance/SPEC.md): it
// registers every behaviour as "<prefix>.<behaviour>", prints "ready <worker id>" once registered,
// logs each handler's start and end to the effects file, and stops gracefully on SIGTERM or
// SIGINT, then exits 0. It is configured by environment only:
//
//	TASKSTREAM_ADDRESSES  comma-separated dispatcher addresses (required)
//	TASKSTREAM_API_KEY    sent as "authorization: Bearer <key>" when set
//	CONFORMANCE_PREFIX    prefix of every task type (required)
//	CONFORMANCE_LANG      echoed in results and effects (default go)
//	CONFORMANCE_LABELS    JSON object of labels (default {})
//	CONFORMANCE_SLOTS     slots (default 4)
//	CONFORMANCE_NAME      worker name (default conformance-<lang>)
//	CONFORMANCE_EFFECTS   path of the JSONL effects file (none when unset)
//	CONFORMANCE_GRACE_MS  grace period of the graceful stop (default 10000)
//
// Stdout carries only the ready line; the SDK's diagnostics go to stderr.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskstream/taskstream/sdk/go/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance worker:", err)
		os.Exit(1)
	}
}

// settings is the worker's configuration, read from the environment.
type settings struct {
	addresses []string
	apiKey    string
	prefix    string
	lang      string
	labels    map[string]string
	slots     int
	name      string
	effects   string
	grace     time.Duration
}

func readSettings() (settings, error) {
	s := settings{
		apiKey:  os.Getenv("TASKSTREAM_API_KEY"),
		prefix:  os.Getenv("CONFORMANCE_PREFIX"),
		lang:    envOr("CONFORMANCE_LANG", "go"),
		effects: os.Getenv("CONFORMANCE_EFFECTS"),
		labels:  map[string]string{},
	}
	for _, address := range strings.Split(os.Getenv("TASKSTREAM_ADDRESSES"), ",") {
		if address = strings.TrimSpace(address); address != "" {
			s.addresses = append(s.addresses, address)
		}
	}
	if len(s.addresses) == 0 {
		return s, fmt.Errorf("TASKSTREAM_ADDRESSES must name at least one dispatcher address")
	}
	if s.prefix == "" {
		return s, fmt.Errorf("CONFORMANCE_PREFIX must be set")
	}
	if err := json.Unmarshal([]byte(envOr("CONFORMANCE_LABELS", "{}")), &s.labels); err != nil {
		return s, fmt.Errorf("CONFORMANCE_LABELS must be a JSON object of strings: %w", err)
	}
	slots, err := positive("CONFORMANCE_SLOTS", 4)
	if err != nil {
		return s, err
	}
	s.slots = slots
	graceMs, err := positive("CONFORMANCE_GRACE_MS", 10_000)
	if err != nil {
		return s, err
	}
	s.grace = time.Duration(graceMs) * time.Millisecond
	s.name = envOr("CONFORMANCE_NAME", "conformance-"+s.lang)
	return s, nil
}

func run() error {
	cfg, err := readSettings()
	if err != nil {
		return err
	}
	effects, err := openEffects(cfg.effects, cfg.lang)
	if err != nil {
		return fmt.Errorf("CONFORMANCE_EFFECTS: %w", err)
	}
	defer effects.close()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []worker.Option{
		worker.WithAddresses(cfg.addresses...),
		worker.WithName(cfg.name),
		worker.WithSlots(cfg.slots),
		worker.WithLabels(cfg.labels),
		worker.WithLogger(logger),
		worker.WithGracePeriod(cfg.grace),
	}
	if cfg.apiKey != "" {
		opts = append(opts, worker.WithAPIKey(cfg.apiKey))
	}
	w, err := worker.New(opts...)
	if err != nil {
		return err
	}
	for name, body := range behaviours {
		if err := w.Register(cfg.prefix+"."+name, handler(name, body, effects, cfg.lang, logger)); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		select {
		case <-w.Ready():
			fmt.Printf("ready %s\n", w.ID())
		case <-ctx.Done():
		}
	}()
	// Run stops gracefully (with the grace period) once ctx ends, and returns nil then.
	return w.Run(ctx)
}

// handler wraps a behaviour with its effects: a start line before it runs, an end line after.
func handler(name string, body behaviour, effects *effects, lang string, log *slog.Logger) worker.Handler {
	return func(ctx context.Context, task *worker.Task) (any, error) {
		if err := effects.start(name, task); err != nil {
			log.Error("effects file not written", "error", err)
		}
		in := input{}
		// A payload that is not an object runs with every field's default.
		_ = json.Unmarshal(task.Payload, &in)
		result, err := body(ctx, task, in, lang)
		if werr := effects.end(task, outcomeOf(ctx, err)); werr != nil {
			log.Error("effects file not written", "error", werr)
		}
		return result, err
	}
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func positive(name string, fallback int) (int, error) {
	raw := os.Getenv(name)
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q", name, raw)
	}
	return n, nil
}
