package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/version"
)

// ErrAllFailed marks a run in which no request completed.
var ErrAllFailed = errors.New("no request completed")

// Run benchmarks every target at every load point with the same seeded
// workload, one run after another: targets outermost, then
// max_concurrency, then request_rate. It returns the results gathered, in
// that order, even when it also returns an error:
//   - a setup error (bad config, unreadable dataset or key) returns no results;
//   - when ctx is cancelled, the current run ends early (in-flight requests
//     get Config.Grace, then are aborted), is returned with Partial set, no
//     later run starts, and the error wraps ErrInterrupted;
//   - a run in which no request completed makes the error wrap ErrAllFailed
//     (later runs still go ahead).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reqs, err := dataset.Load(cfg.Dataset)
	if err != nil {
		return nil, err
	}
	sum := dataset.SHA256(reqs)
	var results []Result
	var errs []error
	for _, t := range cfg.Targets {
		key, err := t.apiKey(cfg.Getenv, cfg.ReadFile)
		if err != nil {
			return results, fmt.Errorf("target %s: %w", t.label(), err)
		}
		pool := 0 // idle connections to keep: the largest concurrency swept
		for _, m := range cfg.MaxConcurrency {
			if m == 0 {
				m = cfg.Dataset.NumPrompts
			}
			pool = max(pool, m)
		}
		client := newClient(pool)
		tr := targetRun{cfg: &cfg, target: t, key: key, client: client, reqs: reqs, sum: sum}
		if err := tr.prepare(ctx); err != nil {
			client.CloseIdleConnections()
			return results, fmt.Errorf("target %s: %w", t.label(), err)
		}
		for _, conc := range cfg.MaxConcurrency {
			for _, rate := range cfg.RequestRates {
				res := tr.run(ctx, conc, rate)
				results = append(results, res)
				if res.Completed == 0 {
					errs = append(errs, fmt.Errorf("run %s (max_concurrency %s, request_rate %s): %w%s",
						res.Label, concString(res.MaxConcurrency), res.RequestRate, ErrAllFailed, firstError(res)))
				}
				if res.Partial {
					client.CloseIdleConnections()
					return results, errors.Join(append(errs, fmt.Errorf("run %s: %w: results are partial", res.Label, ErrInterrupted))...)
				}
			}
		}
		client.CloseIdleConnections()
	}
	return results, errors.Join(errs...)
}

func concString(c *int) string {
	if c == nil {
		return "unlimited"
	}
	return fmt.Sprint(*c)
}

func firstError(r Result) string {
	if r.Detailed != nil {
		for _, e := range r.Errors {
			if e != "" {
				return " (first error: " + e + ")"
			}
		}
	}
	return ""
}

// targetRun holds what the runs against one target share.
type targetRun struct {
	cfg      *Config
	target   Target
	key      string
	client   *http.Client
	reqs     []dataset.Request
	sum      string
	model    string
	endpoint string
	url      string
	bodies   [][]byte
}

// prepare resolves the model and encodes every request body up front, so
// the hot path only writes bytes.
func (tr *targetRun) prepare(ctx context.Context) error {
	base := tr.target.baseURL()
	tr.endpoint = tr.target.Endpoint
	if tr.endpoint == "" {
		tr.endpoint = tr.cfg.Endpoint
	}
	tr.url = base + "/v1/chat/completions"
	if tr.endpoint == EndpointCompletions {
		tr.url = base + "/v1/completions"
	}
	tr.model = tr.target.Model
	if tr.model == "" {
		m, err := firstModel(ctx, tr.client, base, tr.key)
		if err != nil {
			return err
		}
		tr.model = m
	}
	tr.bodies = make([][]byte, len(tr.reqs))
	for i, r := range tr.reqs {
		b, err := buildBody(tr.endpoint, tr.model, r, tr.cfg.Temperature, tr.cfg.IgnoreEOS)
		if err != nil {
			return err
		}
		tr.bodies[i] = b
	}
	return nil
}

// run performs one measured run at one load point.
func (tr *targetRun) run(ctx context.Context, conc int, rate float64) Result {
	cfg := tr.cfg
	log := cfg.Logger.With("label", tr.target.label(), "max_concurrency", conc, "request_rate", Rate(rate).String())
	if cfg.Warmup > 0 && ctx.Err() == nil {
		tr.warmup(ctx, conc, log)
	}
	n := len(tr.reqs)
	offsets := Arrivals(n, rate, cfg.Burstiness, cfg.Dataset.Seed)
	if cfg.Progress != nil {
		cfg.Progress.Start(fmt.Sprintf("%s c=%s r=%s", tr.target.label(), concLabel(conc), Rate(rate)), n)
		defer cfg.Progress.Finish()
	}
	log.Info("bench run starting", "num_prompts", n)

	// In-flight requests run on their own context: cancelling ctx stops
	// dispatch at once, but aborts them only after the grace period.
	reqCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.NewTimer(cfg.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			abort(ErrInterrupted)
		case <-reqCtx.Done():
		}
	})
	defer stopGrace()

	records := make(chan record, min(n, 1024))
	collected := make(chan []record, 1)
	go func() { // the aggregator: the only owner of the result slice
		out := make([]record, 0, n)
		for r := range records {
			out = append(out, r)
			if cfg.Progress != nil {
				cfg.Progress.Done()
			}
		}
		collected <- out
	}()

	var sem chan struct{}
	if conc > 0 {
		sem = make(chan struct{}, conc)
	}
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	t0 := time.Now()
	startedAt := time.Now().UTC()
	dispatched := 0
dispatch:
	for i := range n {
		if d := time.Until(t0.Add(offsets[i])); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				break dispatch
			}
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break dispatch
			}
		}
		if ctx.Err() != nil {
			if sem != nil {
				<-sem
			}
			break
		}
		if dispatched == 0 {
			startedAt = time.Now().UTC()
		}
		dispatched++
		wg.Go(func() {
			rec := do(reqCtx, tr.client, tr.url, tr.key, tr.bodies[i], tr.reqs[i], cfg.Timeout)
			rec.index = i
			if sem != nil {
				<-sem
			}
			records <- rec
		})
	}
	wg.Wait()
	close(records)
	recs := <-collected
	interrupted := ctx.Err() != nil && (dispatched < n || errors.Is(context.Cause(reqCtx), ErrInterrupted))

	res := tr.result(recs, conc, rate, startedAt)
	res.Partial = interrupted
	log.Info("bench run done", "completed", res.Completed, "failed", res.Failed, "duration_s", res.Duration,
		"output_throughput", res.OutputThroughput, "mean_ttft_ms", res.TTFT.Mean, "partial", res.Partial)
	return res
}

func concLabel(c int) string {
	if c == 0 {
		return "inf"
	}
	return fmt.Sprint(c)
}

// warmup sends cfg.Warmup unmeasured requests (the workload's first ones,
// repeated as needed) at the run's concurrency.
func (tr *targetRun) warmup(ctx context.Context, conc int, log *slog.Logger) {
	n := tr.cfg.Warmup
	par := n
	if conc > 0 {
		par = min(conc, n)
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var failed sync.Map
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			j := i % len(tr.reqs)
			if r := do(ctx, tr.client, tr.url, tr.key, tr.bodies[j], tr.reqs[j], tr.cfg.Timeout); !r.ok() {
				failed.Store(i, r.err)
			}
		})
	}
	wg.Wait()
	nf := 0
	var sample any
	failed.Range(func(_, v any) bool { nf++; sample = v; return true })
	if nf > 0 {
		log.Warn("warmup requests failed", "failed", nf, "of", n, "error", sample)
	}
}

// result builds the Result of one run from its records.
func (tr *targetRun) result(recs []record, conc int, rate float64, startedAt time.Time) Result {
	cfg := tr.cfg
	res := Result{
		ServelabVersion: version.Version,
		Label:           tr.target.label(),
		BaseURL:         tr.target.baseURL(),
		Model:           tr.model,
		Endpoint:        tr.endpoint,
		Engine:          tr.target.Engine,
		Image:           tr.target.Image,
		Seed:            cfg.Dataset.Seed,
		Dataset:         cfg.Dataset.Kind,
		DatasetSHA256:   tr.sum,
		Config: RunConfig{
			Warmup:         cfg.Warmup,
			DatasetPath:    cfg.Dataset.Path,
			OutputLen:      cfg.Dataset.OutputLen,
			IgnoreEOS:      cfg.IgnoreEOS,
			Temperature:    cfg.Temperature,
			TimeoutSeconds: cfg.Timeout.Seconds(),
			Percentiles:    cfg.Percentiles,
			Goodput:        cfg.Goodput,
			TTFTOn:         "content",
		},
		StartedAt:   startedAt,
		NumPrompts:  len(tr.reqs),
		RequestRate: Rate(rate),
		Burstiness:  cfg.Burstiness,
	}
	if cfg.Dataset.Kind == dataset.Random {
		res.Config.RandomInputLen = cfg.Dataset.RandomInputLen
		res.Config.RandomOutputLen = cfg.Dataset.RandomOutputLen
		res.Config.RandomRangeRatio = cfg.Dataset.RandomRangeRatio
	}
	if conc > 0 {
		c := conc
		res.MaxConcurrency = &c
	}
	aggregate(&res, recs, cfg.Percentiles, cfg.Goodput, cfg.SaveDetailed)
	return res
}
