// Command worker is the Go SDK's example (see sdk/go/README.md): a worker that handles "echo"
// tasks and a client that submits one, waits for its result and prints its history. With a
// Taskstream running (npm start serves gRPC on 127.0.0.1:50051):
//
//	go run ./examples/worker -address 127.0.0.1:50051
//
// It runs until the task is done, or until interrupted (Ctrl-C stops it gracefully).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/taskstream/taskstream/sdk/go/client"
	"github.com/taskstream/taskstream/sdk/go/worker"
)

// greeting is the payload of an echo task.
type greeting struct {
	Hello string `json:"hello"`
}

// echo answers its payload; a task without a greeting is dead-lettered at once.
func echo(ctx context.Context, task *worker.Task, payload greeting) (map[string]any, error) {
	// Progress, seen by a later attempt as task.LastDetails.
	if err := task.Heartbeat(map[string]bool{"received": true}); err != nil {
		return nil, err
	}
	if payload.Hello == "" {
		return nil, worker.NonRetryable(errors.New("nothing to echo"))
	}
	// ctx ends on cancel, at the attempt's deadline and when the worker stops after its grace.
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return map[string]any{"echoed": payload.Hello, "attempt": task.Attempt}, nil
}

func main() {
	address := flag.String("address", "127.0.0.1:50051", "Taskstream gRPC address (API and dispatcher)")
	apiKey := flag.String("api-key", os.Getenv("TASKSTREAM_API_KEY"), "API key, when the server requires one")
	flag.Parse()
	if err := run(*address, *apiKey); err != nil {
		log.Fatal(err)
	}
}

func run(address, apiKey string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	w, err := worker.New(
		worker.WithAddresses(address), // several dispatchers: the worker finds the leader round-robin
		worker.WithName("example"),
		worker.WithSlots(4),
		worker.WithAPIKey(apiKey),
	)
	if err != nil {
		return err
	}
	if err := w.Register("echo", worker.Typed(echo)); err != nil {
		return err
	}
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(ctx) }() // Run returns once the worker has shut down
	select {
	case <-w.Ready():
	case err := <-workerDone:
		return err
	}

	c, err := client.New(address, client.WithAPIKey(apiKey))
	if err != nil {
		return err
	}
	defer c.Close()
	submitted, err := c.Submit(ctx, client.TaskSpec{Type: "echo", Payload: greeting{Hello: "world"},
		Priority: client.Priority(7)})
	if err != nil {
		return err
	}

	// Poll until the task is done: a read is folded from the event log, so it sees its own writes.
	task, err := c.Get(ctx, submitted.ID)
	for err == nil && !task.Done() {
		time.Sleep(50 * time.Millisecond)
		task, err = c.Get(ctx, submitted.ID)
	}
	if err != nil {
		return err
	}
	fmt.Println(task.State, string(task.Result)) // SUCCEEDED {"attempt":1,"echoed":"world"}
	history, err := c.History(ctx, submitted.ID)
	if err != nil {
		return err
	}
	for _, event := range history {
		fmt.Println(event.Version, event.Type)
	}

	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.Stop(stopCtx)
}
