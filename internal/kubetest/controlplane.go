//go:build unix

package kubetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

// Service network of the control plane: configuration only, nothing is
// ever sent there (no kube-proxy, no nodes).
const (
	serviceCIDR = "10.96.0.0/12"
	serviceIP   = "10.96.0.1" // the kubernetes Service's cluster IP
	saIssuer    = "https://kubernetes.default.svc.cluster.local"
)

const (
	// startAttempts bounds the retries when a chosen port was taken by
	// another process before our child bound it.
	startAttempts = 3
	// pollEvery is the readiness polling period (no readiness signal
	// exists but the HTTP endpoints).
	pollEvery = 200 * time.Millisecond
	// stopGrace is how long a stopped process gets between SIGTERM and
	// SIGKILL.
	stopGrace = 15 * time.Second
)

// Config says where the control plane's binaries are and where its state
// goes.
type Config struct {
	Bins Bins
	// Dir must exist; certificates, keys and etcd's data are written
	// there (the caller removes it).
	Dir string
}

// Cluster is a running etcd + kube-apiserver pair on loopback.
type Cluster struct {
	// URL is the API server's base URL (https://127.0.0.1:<port>).
	URL string

	client    *http.Client
	pki       *pki
	etcd      *proc
	apiserver *proc

	mu        sync.Mutex
	discovery map[string]map[string]apiResource // groupVersion -> kind -> resource
}

// Start starts etcd, then kube-apiserver against it, and returns once the
// API server's /readyz answers ok. ctx bounds the whole start. On error
// every process it started is stopped.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("kubetest: Config.Dir is empty")
	}
	p, err := newPKI(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	etcd, etcdURL, err := startEtcd(ctx, cfg.Bins.Etcd, cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: p.rootCAs, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 8,
	}}
	apiserver, url, err := startAPIServer(ctx, cfg.Bins.APIServer, cfg.Dir, etcdURL, p, client, etcd)
	if err != nil {
		_ = etcd.stop(stopGrace)
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	return &Cluster{URL: url, client: client, pki: p, etcd: etcd, apiserver: apiserver, discovery: map[string]map[string]apiResource{}}, nil
}

// Close stops the API server, then etcd, and reports a process that
// would not die.
func (c *Cluster) Close() error {
	c.client.CloseIdleConnections()
	var errs []error
	if err := c.apiserver.stop(stopGrace); err != nil {
		errs = append(errs, fmt.Errorf("stop kube-apiserver: %w", err))
	}
	if err := c.etcd.stop(stopGrace); err != nil {
		errs = append(errs, fmt.Errorf("stop etcd: %w", err))
	}
	return errors.Join(errs...)
}

// Logs returns the tail of both processes' output.
func (c *Cluster) Logs() string {
	return fmt.Sprintf("---- kube-apiserver ----\n%s\n---- etcd ----\n%s", c.apiserver.out.String(), c.etcd.out.String())
}

// startEtcd starts a single-member etcd with plain HTTP on two loopback
// ports and waits for /health.
func startEtcd(ctx context.Context, bin, dir string) (*proc, string, error) {
	plain := &http.Client{}
	defer plain.CloseIdleConnections()
	var last error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := procs.FreeAddrs(2)
		if err != nil {
			return nil, "", err
		}
		clientURL, peerURL := "http://"+ports[0], "http://"+ports[1]
		data := filepath.Join(dir, "etcd-"+strconv.Itoa(attempt))
		p, err := startProc("etcd", dir, bin,
			"--name=kubetest",
			"--data-dir="+data,
			"--listen-client-urls="+clientURL,
			"--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL,
			"--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=kubetest="+peerURL,
			"--initial-cluster-state=new",
			// Test data: nothing survives the test, so skip the fsyncs
			// that make a loaded machine's disk the bottleneck.
			"--unsafe-no-fsync",
			"--log-level=warn",
		)
		if err != nil {
			return nil, "", err
		}
		err = waitReady(ctx, p, func(ctx context.Context) error { return getOK(ctx, plain, clientURL+"/health") })
		if err == nil {
			return p, clientURL, nil
		}
		_ = p.stop(stopGrace)
		last = err
		if !p.portTaken() {
			break
		}
	}
	return nil, "", fmt.Errorf("etcd: %w", last)
}

// startAPIServer starts kube-apiserver against etcdURL on a loopback port
// and waits for /readyz.
func startAPIServer(ctx context.Context, bin, dir, etcdURL string, p *pki, client *http.Client, etcd *proc) (*proc, string, error) {
	var last error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := procs.FreeAddrs(1)
		if err != nil {
			return nil, "", err
		}
		_, port, _ := net.SplitHostPort(ports[0])
		url := "https://" + ports[0]
		certDir := filepath.Join(dir, "apiserver-"+strconv.Itoa(attempt))
		if err := os.MkdirAll(certDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("create %s: %w", certDir, err)
		}
		proc, err := startProc("kube-apiserver", dir, bin,
			"--etcd-servers="+etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			// The reconciler that publishes the advertise address as the
			// kubernetes Service's endpoints refuses a loopback address;
			// nothing here reaches the API server through that Service.
			"--endpoint-reconciler-type=none",
			"--secure-port="+port,
			"--cert-dir="+certDir,
			"--tls-cert-file="+p.certFile,
			"--tls-private-key-file="+p.keyFile,
			"--client-ca-file="+p.caFile,
			"--service-account-issuer="+saIssuer,
			"--service-account-key-file="+p.saPubFile,
			"--service-account-signing-key-file="+p.saKeyFile,
			"--service-cluster-ip-range="+serviceCIDR,
			// What kubeadm configures: Node and RBAC authorization, the
			// default admission plugins plus NodeRestriction, privileged
			// containers allowed (PodSecurity decides per namespace).
			"--authorization-mode=Node,RBAC",
			"--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true",
			"--profiling=false",
		)
		if err != nil {
			return nil, "", err
		}
		err = waitReady(ctx, proc, func(ctx context.Context) error {
			if err := etcd.alive(); err != nil {
				return err
			}
			return getOK(ctx, client, url+"/readyz")
		})
		if err == nil {
			return proc, url, nil
		}
		_ = proc.stop(stopGrace)
		last = err
		if !proc.portTaken() {
			break
		}
	}
	return nil, "", fmt.Errorf("kube-apiserver: %w", last)
}

// waitReady polls check until it succeeds, p exits or ctx ends.
func waitReady(ctx context.Context, p *proc, check func(context.Context) error) error {
	start := time.Now()
	var last error
	for {
		if err := p.alive(); err != nil {
			return err
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w (last check: %v)\n%s", time.Since(start).Round(time.Second), ctx.Err(), last, p.out.String())
		case <-p.done:
		case <-time.After(pollEvery):
		}
	}
}

// getOK GETs url and wants 200.
func getOK(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
