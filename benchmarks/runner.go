package benchmarks

import (
	"context"
	"errors"
	"fmt"
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
// max_concurrency, then request_rate, then the Config.Repeats repetitions
// of that level. It returns the results gathered, in that order, even when
// it also returns an error, which is then a *RunError:
//   - a usage or setup problem (bad config, unreadable dataset or key)
//     returns no results and wraps ErrConfig;
//   - a target whose model list cannot be read is skipped (ErrTarget);
//   - when ctx is cancelled, the current run ends early (in-flight requests
//     get Config.Grace, or none once Config.Abort is closed), is returned
//     with Partial set, no later run starts, and the error wraps
//     ErrInterrupted; when Config.Deadline passes, the same happens without
//     a grace period and the error wraps ErrDeadline;
//   - a run in which no request completed wraps ErrAllFailed, one with more
//     failures than Config.MaxFailureRatio ErrFailureRatio (later runs still
//     go ahead).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	reqs, err := dataset.Load(cfg.Dataset)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	keys := make([]string, len(cfg.Targets))
	for i, t := range cfg.Targets {
		if keys[i], err = t.apiKey(cfg.Getenv, cfg.ReadFile); err != nil {
			return nil, fmt.Errorf("%w: target %s: %w", ErrConfig, t.label(), err)
		}
	}
	if cfg.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Deadline, ErrDeadline)
		defer cancel()
	}
	sum := dataset.SHA256(reqs)
	perTarget := len(cfg.MaxConcurrency) * len(cfg.RequestRates) * cfg.Repeats
	runErr := &RunError{Total: len(cfg.Targets) * perTarget, Deadline: cfg.Deadline, MaxFailureRatio: cfg.MaxFailureRatio}
	var results []Result
	index, skipped := 0, 0
	for ti, t := range cfg.Targets {
		if ctx.Err() != nil {
			break
		}
		pool := 0 // idle connections to keep: the largest concurrency swept
		for _, m := range cfg.MaxConcurrency {
			if m == 0 {
				m = cfg.Dataset.NumPrompts
			}
			pool = max(pool, m)
		}
		client := newClient(pool)
		tr := targetRun{cfg: &cfg, target: t, key: keys[ti], client: client, reqs: reqs, sum: sum}
		if err := tr.prepare(ctx); err != nil {
			client.CloseIdleConnections()
			if ctx.Err() != nil {
				break
			}
			runErr.Failures = append(runErr.Failures, fmt.Errorf("target %s: %w: %w (its %d runs skipped)", t.label(), ErrTarget, err, perTarget))
			runErr.Failed += perTarget
			skipped += perTarget
			index += perTarget
			continue
		}
		stop := false
		for _, conc := range cfg.MaxConcurrency {
			for _, rate := range cfg.RequestRates {
				for rep := 1; rep <= cfg.Repeats && !stop; rep++ {
					index++
					info := RunInfo{Index: index, Total: runErr.Total, Label: t.label(), MaxConcurrency: conc,
						RequestRate: Rate(rate), Repeat: rep, Repeats: cfg.Repeats}
					if rep == 1 {
						tr.warmup(ctx, info)
					}
					if ctx.Err() != nil {
						stop = true
						break
					}
					res := tr.run(ctx, info)
					results = append(results, res)
					runErr.Done++
					if res.Partial {
						runErr.Cut = &results[len(results)-1]
						stop = true
						break
					}
					if err := judge(res, info, cfg.MaxFailureRatio); err != nil {
						runErr.Failures = append(runErr.Failures, err)
						runErr.Failed++
					}
				}
			}
		}
		client.CloseIdleConnections()
		if stop {
			break
		}
	}
	// Cut short: the context ended before every planned run was done or
	// skipped (a deadline passing just after the last run cuts nothing).
	if ctx.Err() != nil && (runErr.Cut != nil || runErr.Done+skipped < runErr.Total) {
		runErr.Cause = ErrInterrupted
		if errors.Is(context.Cause(ctx), ErrDeadline) {
			runErr.Cause = ErrDeadline
		}
	}
	if runErr.Cause == nil && len(runErr.Failures) == 0 {
		return results, nil
	}
	runErr.Results = results
	return results, runErr
}

// judge returns the failure of a finished, uninterrupted run, if any.
func judge(r Result, info RunInfo, maxRatio float64) error {
	n := r.Completed + r.Failed
	where := fmt.Sprintf("run %d/%d (%s, max_concurrency %s, request_rate %s", info.Index, info.Total, r.Label, concString(r.MaxConcurrency), r.RequestRate)
	if info.Repeats > 1 {
		where += fmt.Sprintf(", repeat %d/%d", info.Repeat, info.Repeats)
	}
	where += ")"
	switch {
	case r.Completed == 0:
		return fmt.Errorf("%s: %w: %d of %d failed%s", where, ErrAllFailed, r.Failed, n, firstError(r))
	case n > 0 && float64(r.Failed)/float64(n) > maxRatio:
		return fmt.Errorf("%s: %w: %d of %d failed (%.1f%% > --max-failure-ratio %g)%s", where, ErrFailureRatio,
			r.Failed, n, 100*float64(r.Failed)/float64(n), maxRatio, firstError(r))
	}
	return nil
}

func concString(c *int) string {
	if c == nil {
		return "unlimited"
	}
	return fmt.Sprint(*c)
}

func firstError(r Result) string {
	if r.FirstError != "" {
		return "; first error: " + r.FirstError
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
	endpoint string // chat or completions
	path     string // what is POSTed to, e.g. /v1/chat/completions
	q        requester
	bodies   [][]byte
	kvTokens *int64
}

// prepare resolves the model, reads the engine's KV-cache capacity and
// encodes every request body up front, so the hot path only writes bytes.
func (tr *targetRun) prepare(ctx context.Context) error {
	base := tr.target.baseURL()
	ep := tr.target.Endpoint
	if ep == "" {
		ep = tr.cfg.Endpoint
	}
	var err error
	if tr.endpoint, tr.path, err = ParseEndpoint(ep); err != nil {
		return err
	}
	tr.q = requester{client: tr.client, url: base + tr.path, apiKey: tr.key, timeout: tr.cfg.Timeout, maxEvent: tr.cfg.MaxEventBytes}
	tr.model = tr.target.Model
	if tr.model == "" {
		m, err := firstModel(ctx, tr.client, base, tr.key)
		if err != nil {
			return err
		}
		tr.model = m
	}
	if tr.target.MetricsURL != "" {
		n, err := KVCacheCapacity(ctx, tr.client, tr.target.MetricsURL)
		if err != nil {
			tr.cfg.Logger.Warn("KV-cache capacity unknown", "label", tr.target.label(), "metrics_url", tr.target.MetricsURL, "error", err.Error())
		} else {
			tr.kvTokens = &n
			tr.cfg.Logger.Info("KV-cache capacity", "label", tr.target.label(), "tokens", n)
		}
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

// warmupCount is the number of unmeasured requests before a level.
func (tr *targetRun) warmupCount(conc int) int {
	if tr.cfg.Warmup != WarmupAuto {
		return tr.cfg.Warmup
	}
	if conc > 0 {
		return conc
	}
	return len(tr.reqs)
}

// requestCtx returns the context in-flight requests of a phase run on:
// cancelling ctx stops dispatch at once but aborts them only after the
// grace period, unless ctx ended on the deadline or Config.Abort is closed,
// which abort them at once. stop releases the context's resources.
func (tr *targetRun) requestCtx(ctx context.Context) (reqCtx context.Context, stop func()) {
	reqCtx, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var abortCh <-chan struct{} = tr.cfg.Abort
		select {
		case <-ctx.Done():
		case <-abortCh:
			abort(ErrInterrupted)
			return
		case <-done:
			return
		}
		if errors.Is(context.Cause(ctx), ErrDeadline) {
			abort(ErrDeadline)
			return
		}
		t := time.NewTimer(tr.cfg.Grace)
		defer t.Stop()
		select {
		case <-t.C:
			abort(ErrInterrupted)
		case <-abortCh:
			abort(ErrInterrupted)
		case <-done:
		}
	})
	return reqCtx, func() { close(done); wg.Wait(); abort(nil) }
}

// run performs one measured run at one load point.
func (tr *targetRun) run(ctx context.Context, info RunInfo) Result {
	cfg := tr.cfg
	conc, rate := info.MaxConcurrency, float64(info.RequestRate)
	log := cfg.Logger.With("run", fmt.Sprintf("%d/%d", info.Index, info.Total), "label", info.Label,
		"max_concurrency", conc, "request_rate", info.RequestRate.String())
	if info.Repeats > 1 {
		log = log.With("repeat", info.Repeat)
	}
	n := len(tr.reqs)
	offsets := Arrivals(n, rate, cfg.Burstiness, cfg.Dataset.Seed)
	info.Requests = n
	if cfg.Progress != nil {
		cfg.Progress.Start(info)
		defer cfg.Progress.Finish()
	}
	log.Info("bench run starting", "num_prompts", n)

	reqCtx, stopReqs := tr.requestCtx(ctx)
	records := make(chan record, min(n, 1024))
	collected := make(chan []record, 1)
	go func() { // the aggregator: the only owner of the result slice
		out := make([]record, 0, n)
		for r := range records {
			out = append(out, r)
			if cfg.Progress != nil {
				cfg.Progress.Done(!r.ok())
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
	startedAt := time.Now()
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
			startedAt = time.Now()
		}
		dispatched++
		wg.Go(func() {
			rec := tr.q.do(reqCtx, tr.bodies[i], tr.reqs[i])
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
	aborted := context.Cause(reqCtx)
	stopReqs()
	interrupted := ctx.Err() != nil && (dispatched < n || errors.Is(aborted, ErrInterrupted) || errors.Is(aborted, ErrDeadline))

	res := tr.result(recs, info, startedAt)
	res.Partial = interrupted
	attrs := []any{"completed", res.Completed, "failed", res.Failed, "duration_s", res.Duration,
		"request_throughput", res.RequestThroughput, "output_throughput", res.OutputThroughput,
		"median_ttft_ms", res.TTFT.Median, "median_tpot_ms", res.TPOT.Median, "partial", res.Partial}
	if res.Failed > 0 {
		attrs = append(attrs, "first_error", res.FirstError)
		log.Warn("bench run done with failures", append(attrs, "errors", errorSummaryText(res.ErrorSummary))...)
	} else {
		log.Info("bench run done", attrs...)
	}
	return res
}

func concLabel(c int) string {
	if c == 0 {
		return "inf"
	}
	return fmt.Sprint(c)
}

// warmup sends the level's unmeasured requests (the workload's first ones,
// repeated as needed) at its concurrency. Failures are logged, not
// measured.
func (tr *targetRun) warmup(ctx context.Context, info RunInfo) {
	n := tr.warmupCount(info.MaxConcurrency)
	if n == 0 || ctx.Err() != nil {
		return
	}
	info.Warmup, info.Requests = true, n
	if p := tr.cfg.Progress; p != nil {
		p.Start(info)
		defer p.Finish()
	}
	log := tr.cfg.Logger.With("label", info.Label, "max_concurrency", info.MaxConcurrency)
	log.Info("warm-up starting", "requests", n)
	par := n
	if info.MaxConcurrency > 0 {
		par = min(info.MaxConcurrency, n)
	}
	reqCtx, stopReqs := tr.requestCtx(ctx)
	defer stopReqs()
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := errorCounter{}
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
			r := tr.q.do(reqCtx, tr.bodies[j], tr.reqs[j])
			mu.Lock()
			errs.add(r.err, r.end)
			mu.Unlock()
			if tr.cfg.Progress != nil {
				tr.cfg.Progress.Done(!r.ok())
			}
		})
	}
	wg.Wait()
	if errs.failed > 0 {
		log.Warn("warm-up requests failed", "failed", errs.failed, "of", n, "first_error", errs.first, "errors", errorSummaryText(errs.counts))
	}
}

// result builds the Result of one run from its records.
func (tr *targetRun) result(recs []record, info RunInfo, startedAt time.Time) Result {
	cfg := tr.cfg
	res := Result{
		ServelabVersion: version.Version,
		Label:           tr.target.label(),
		BaseURL:         tr.target.baseURL(),
		Model:           tr.model,
		ModelID:         tr.model,
		Endpoint:        tr.endpoint,
		EndpointPath:    tr.path,
		Backend:         BackendOf(tr.endpoint),
		Engine:          tr.target.Engine,
		Image:           tr.target.Image,
		Seed:            cfg.Dataset.Seed,
		Dataset:         cfg.Dataset.Kind,
		DatasetSHA256:   tr.sum,
		Config: RunConfig{
			Warmup:         tr.warmupCount(info.MaxConcurrency),
			DatasetPath:    cfg.Dataset.Path,
			OutputLen:      cfg.Dataset.OutputLen,
			IgnoreEOS:      cfg.IgnoreEOS,
			Temperature:    cfg.Temperature,
			TimeoutSeconds: cfg.Timeout.Seconds(),
			Percentiles:    cfg.Percentiles,
			Goodput:        cfg.Goodput,
			TTFTOn:         "content",
		},
		StartedAt:             startedAt.UTC(),
		Date:                  startedAt.Format("20060102-150405"),
		Repeat:                info.Repeat,
		KVCacheCapacityTokens: tr.kvTokens,
		NumPrompts:            len(tr.reqs),
		RequestRate:           info.RequestRate,
		Burstiness:            cfg.Burstiness,
	}
	if cfg.Dataset.Kind == dataset.Random {
		res.Config.RandomInputLen = cfg.Dataset.RandomInputLen
		res.Config.RandomOutputLen = cfg.Dataset.RandomOutputLen
		res.Config.RandomRangeRatio = cfg.Dataset.RandomRangeRatio
	}
	if info.MaxConcurrency > 0 {
		c := info.MaxConcurrency
		res.MaxConcurrency = &c
	}
	aggregate(&res, recs, cfg.Percentiles, cfg.Goodput, cfg.SaveDetailed)
	return res
}
