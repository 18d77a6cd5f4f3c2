//go:build linux

package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

// build builds a command of this module into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, "github.com/servelab/servelab/"+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// TestDemoEndToEnd runs `make demo`'s command in a short mode (2 prompts
// per run, one load level) as a user does — the servelab binary, the sim
// stack, Prometheus when installed — reads what it prints, uses it (the
// gateway with the printed key, Prometheus with the printed password, the
// report), stops it with Ctrl-C (SIGINT), and checks that every process it
// started is gone and every port it printed is closed.
func TestDemoEndToEnd(t *testing.T) {
	tmp := t.TempDir()
	servelab := build(t, tmp, "cmd/servelab")
	demoBin := build(t, tmp, "cmd/servelab-demo")
	work := filepath.Join(tmp, "work")
	_, promErr := exec.LookPath("prometheus")

	cmd := exec.Command(demoBin, "--stack", simStack, "--servelab", servelab, "--dir", work,
		"--num-prompts", "2", "--max-concurrency", "2", "--free-ports")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &procs.TailBuffer{Max: 1 << 20}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	printed := &procs.TailBuffer{Max: 1 << 20}
	summary := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(printed, sc.Text())
			if strings.HasPrefix(sc.Text(), "The lab runs until you stop it") {
				summary <- printed.String()
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("demo stdout:\n%s\ndemo stderr:\n%s", printed.String(), stderr.String())
		}
	})

	var out string
	select {
	case out = <-summary:
	case err := <-exited:
		t.Fatalf("the demo exited before its summary: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatal("no summary within 5 minutes")
	}

	// What it printed, and that it works.
	gwURL := find(t, out, `(?m)^  gateway +(http://127\.0\.0\.1:\d+) `)
	key := find(t, out, `(?m)^  gateway key +([A-Za-z0-9]{48}) `)
	if code := post(t, gwURL+"/v1/chat/completions", "", `{"model":"sim-vllm","messages":[{"role":"user","content":"hi"}]}`); code != http.StatusUnauthorized {
		t.Errorf("gateway without the key: %d, want 401", code)
	}
	if code := post(t, gwURL+"/v1/chat/completions", key, `{"model":"sim-vllm","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`); code != http.StatusOK {
		t.Errorf("gateway with the printed key: %d, want 200", code)
	}
	urls := []string{gwURL}
	keyed := 0
	for _, m := range regexp.MustCompile(`(http://127\.0\.0\.1:\d+) +(sim-\w+) \(simulates \w+\), (takes no key|its key in (\S+))`).FindAllStringSubmatch(out, -1) {
		urls = append(urls, m[1])
		if m[4] == "" {
			continue
		}
		// An engine's own key, where the summary says: the engine
		// wants it, as the gateway (which sends it) and the bench did.
		keyed++
		b, err := os.ReadFile(m[4])
		if err != nil {
			t.Errorf("%s's key file: %v", m[2], err)
			continue
		}
		body := `{"model":"` + m[2] + `","messages":[{"role":"user","content":"hi"}],"max_tokens":4}`
		if code := post(t, m[1]+"/v1/chat/completions", "", body); code != http.StatusUnauthorized {
			t.Errorf("%s directly without its key: %d, want 401", m[2], code)
		}
		if code := post(t, m[1]+"/v1/chat/completions", strings.TrimSpace(string(b)), body); code != http.StatusOK {
			t.Errorf("%s directly with the key in %s: %d, want 200", m[2], m[4], code)
		}
	}
	if len(urls) != 5 || keyed != 3 {
		t.Errorf("printed %d engine URLs, %d with a key file; want 4, 3 (all but Ollama's):\n%s", len(urls)-1, keyed, out)
	}
	if promErr == nil {
		m := regexp.MustCompile(`(?m)^  Prometheus +(http://127\.0\.0\.1:\d+) +user (\S+), password ([A-Za-z0-9]{32}) `).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no Prometheus URL and credentials in:\n%s", out)
		}
		urls = append(urls, m[1])
		if code := get(t, m[1]+"/-/ready", m[2], m[3]); code != http.StatusOK {
			t.Errorf("Prometheus with the printed credentials: %d, want 200", code)
		}
		if code := get(t, m[1]+"/-/ready", m[2], m[3]+"x"); code != http.StatusUnauthorized {
			t.Errorf("Prometheus with a wrong password: %d, want 401", code)
		}
		if !regexp.MustCompile(`(\d+) of (\d+) scrape targets up; \d+ recording rules and \d+ alerts loaded`).MatchString(out) {
			t.Errorf("no scrape target and rules line in:\n%s", out)
		}
	} else if !strings.Contains(out, "apt-get install prometheus") {
		t.Errorf("without Prometheus, the summary does not say how to get it:\n%s", out)
	}
	report := find(t, out, `(?m)^  report +(\S+) `)
	if !filepath.IsAbs(report) {
		report = filepath.Join(".", report)
	}
	html, err := os.ReadFile(report)
	if err != nil || !bytes.Contains(html, []byte("<svg")) || !bytes.Contains(html, []byte("sim-ollama-direct")) {
		t.Errorf("report %s: %d bytes, err %v; want an HTML report with charts of every target", report, len(html), err)
	}

	// Ctrl-C stops it, and everything it started.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the demo exited with %v after Ctrl-C, want 0", err)
		}
		if !strings.Contains(stderr.String(), "stopping every process the demo started") {
			t.Errorf("the demo did not say it stops on Ctrl-C:\n%s", stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the demo did not exit within a minute of Ctrl-C")
	}
	if left := processesIn(t, work); len(left) > 0 {
		t.Errorf("processes left running after the demo exited:\n%s", strings.Join(left, "\n"))
		for _, l := range left { // not to leave them running after the test
			var pid int
			if _, err := fmt.Sscanf(l, "%d:", &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, u := range urls {
		host := strings.TrimPrefix(u, "http://")
		if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo exited", u)
		}
	}
}

// processesIn lists the processes whose working directory is dir or whose
// command line names it: every process the demo starts runs in its work
// directory.
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", pid, "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		cmdline = bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})
		if cwd == dir || bytes.Contains(cmdline, []byte(dir)) {
			out = append(out, pid+": "+string(cmdline))
		}
	}
	return out
}

func find(t *testing.T, out, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s not in the demo's summary:\n%s", re, out)
	}
	return m[1]
}

var hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func post(t *testing.T, url, key, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return do(t, req)
}

func get(t *testing.T, url, user, pass string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
