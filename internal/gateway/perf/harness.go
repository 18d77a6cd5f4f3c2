package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/gateway"
)

// proc is a child process of the harness.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
}

func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// startRole re-runs this binary in a role and waits for its address.
func startRole(ctx context.Context, role string, env []string, args ...string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{"-role", role}, args...)...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s stdout: %w", role, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	p := &proc{name: role, cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		p.stop()
		return nil, fmt.Errorf("%s did not report its address: %q %v", role, line, err)
	}
	p.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	return p, nil
}

// freePort returns a loopback address that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

const nginxConf = `worker_processes %d;
worker_rlimit_nofile 65536;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    keepalive_requests 1000000;
    upstream fake { server %[3]s; keepalive 1024; keepalive_requests 1000000; }
    server {
        listen %[4]s backlog=4096;
        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }
    }
}
`

// startNginx runs nginx in front of upstream with a generated config, or
// returns nil and why it was skipped.
func startNginx(ctx context.Context, bin, dir, upstream string) (*proc, string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				path, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, "not installed (apt-get install -y nginx): nginx column skipped", nil
	}
	version := "unknown"
	if out, err := exec.CommandContext(ctx, path, "-v").CombinedOutput(); err == nil {
		version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
	}
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(dir, "nginx.conf")
	workers := 2
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, workers, dir, upstream, addr), 0o600); err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, path, "-p", dir, "-c", conf, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start nginx: %w", err)
	}
	p := &proc{name: "nginx", cmd: cmd, addr: addr}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, version, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, "", fmt.Errorf("nginx did not listen on %s: %s", addr, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeGatewayConfig(dir, upstream string) (string, error) {
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Models = []gateway.Model{{Name: "m", Backends: []gateway.Backend{{
		Name: "fake", Engine: engine.VLLM, URL: "http://" + upstream,
	}}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "gateway.json")
	return path, os.WriteFile(path, b, 0o600)
}

type target struct {
	name string
	url  string
	pid  int // the process answering the client (upstream, gateway, nginx): its CPU time is measured
}

func runHarness(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "servelab-perf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	up, err := startRole(ctx, "upstream", nil, "-tokens", fmt.Sprint(o.tokens),
		"-first-token", o.firstToken.String(), "-itl", o.itl.String())
	if err != nil {
		return err
	}
	defer up.stop()
	gwConf, err := writeGatewayConfig(dir, up.addr)
	if err != nil {
		return err
	}
	var gwEnv []string
	if o.gwProcs > 0 {
		gwEnv = append(gwEnv, fmt.Sprintf("GOMAXPROCS=%d", o.gwProcs))
	}
	if o.gwGOGC != "" {
		gwEnv = append(gwEnv, "GOGC="+o.gwGOGC)
	}
	startGW := func(variant string) (*proc, error) {
		args := []string{"-config", gwConf, "-variant", variant}
		if o.soak > 0 {
			args = append(args, "-soak", o.soak.String())
		}
		if o.profile != "" {
			args = append(args, "-gateway-cpuprofile", o.profile+"."+variant)
		}
		return startRole(ctx, "gateway", gwEnv, args...)
	}
	var gws []*proc
	gwNames := strings.Split(o.gateways, ",")
	for _, v := range gwNames {
		gw, err := startGW(v)
		if err != nil {
			return err
		}
		defer gw.stop()
		gws = append(gws, gw)
	}
	ngx, ngxVersion, err := startNginx(ctx, o.nginx, dir, up.addr)
	if err != nil {
		return err
	}
	defer ngx.stop()

	targets := []target{{"direct", "http://" + up.addr, up.cmd.Process.Pid}}
	for i, gw := range gws {
		name := "gateway"
		if len(gws) > 1 {
			name = "gateway-" + gwNames[i]
		}
		targets = append(targets, target{name, "http://" + gw.addr, gw.cmd.Process.Pid})
	}
	if ngx != nil {
		targets = append(targets, target{"nginx", "http://" + ngx.addr, ngx.cmd.Process.Pid})
	}
	if o.only != "" {
		keep := strings.Split(o.only, ",")
		targets = slices.DeleteFunc(targets, func(t target) bool { return !slices.Contains(keep, t.name) })
	}
	for _, gw := range gws {
		if err := waitGatewayReady(ctx, "http://"+gw.addr); err != nil {
			return err
		}
	}
	if o.soak > 0 {
		return runSoak(ctx, o, targets)
	}
	loadStart := loadAvg()
	fmt.Println(header(o, ngxVersion))
	fmt.Println()
	sum := newSummary(targets)
	if err := runSerial(ctx, o, targets, sum); err != nil {
		return err
	}
	fmt.Println()
	if err := runNonStreaming(ctx, o, targets, sum); err != nil {
		return err
	}
	fmt.Println()
	if o.streamRound > 0 {
		if err := runStreaming(ctx, o, targets, sum); err != nil {
			return err
		}
		fmt.Println()
	}
	sum.markdown(os.Stdout, o, loadStart, loadAvg())
	return nil
}

func waitGatewayReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if code, err := get(ctx, url+"/readyz"); err == nil && code == 200 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("gateway not ready after 10s")
}
