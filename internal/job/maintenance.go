package job

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// A Task is one piece of periodic maintenance (a purge, a sweep). It returns how many items
// it handled, for the log. It must be idempotent: a task cut short by a shutdown runs again
// at its next period, perhaps on another instance.
type Task func(ctx context.Context) (int, error)

type task struct {
	every time.Duration
	run   Task
}

// MaintenanceArgs is the job that runs one registered maintenance task.
type MaintenanceArgs struct {
	Task string `json:"task"`
}

// Kind implements river.JobArgs.
func (MaintenanceArgs) Kind() string { return "maintenance" }

type maintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	e *Engine
}

// Timeout lets a task run as long as its period: an hourly purge of a large table may need
// more than the default job timeout, and a longer one would overlap the next run.
func (w *maintenanceWorker) Timeout(j *river.Job[MaintenanceArgs]) time.Duration {
	if t, ok := w.e.tasks[j.Args.Task]; ok {
		return t.every
	}
	return 0
}

func (w *maintenanceWorker) Work(ctx context.Context, j *river.Job[MaintenanceArgs]) error {
	t, ok := w.e.tasks[j.Args.Task]
	if !ok {
		// Left in the table by a version that had this task; nothing to do.
		return river.JobCancel(fmt.Errorf("job: unknown maintenance task %q", j.Args.Task))
	}
	n, err := t.run(ctx)
	if err != nil {
		return fmt.Errorf("maintenance %s: %w", j.Args.Task, err)
	}
	if n > 0 {
		w.e.opts.Logger.InfoContext(ctx, "maintenance done", "task", j.Args.Task, "items", n)
	}
	return nil
}

// Every runs task every interval, once per cluster however many instances share the
// database: River's elected leader enqueues it (also when it becomes leader, so restarts
// more frequent than interval do not starve it) and any instance's worker runs it. A run
// that fails is logged and not retried: the next period is the retry. Register before
// Open; name is unique and stable (it is stored in the job's arguments).
func (e *Engine) Every(name string, interval time.Duration, run Task) {
	if _, dup := e.tasks[name]; dup {
		panic("job: maintenance task registered twice: " + name)
	}
	if len(e.tasks) == 0 {
		AddWorker(e, &maintenanceWorker{e: e})
		// A few at once: a minute's sweep should not wait behind an hour's purge.
		e.AddQueue(MaintenanceQueue, 4)
	}
	e.tasks[name] = task{every: interval, run: run}
	e.AddPeriodic(river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) {
			return MaintenanceArgs{Task: name}, &river.InsertOpts{
				Queue: MaintenanceQueue, MaxAttempts: 1,
				// A leader elected mid-period enqueues again: one run per period is enough.
				UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: interval},
			}
		},
		&river.PeriodicJobOpts{RunOnStart: true}))
}

// MaintenanceQueue is the River queue of maintenance tasks, so a long purge never delays
// the jobs of a request and they never delay it.
const MaintenanceQueue = "maintenance"
