package benchkit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Child is a server process this benchmark started: a hazardbot built from
// cmd/hazardbot and configured through its environment, exactly as it is
// deployed, or this binary serving the bare handler (-serve-bare).
type Child struct {
	name string
	cmd  *exec.Cmd
	Addr string // 127.0.0.1:port, from its "listening" log line
	log  string // where its stderr goes

	Warns, Errs atomic.Int64 // log lines at WARN and ERROR
	exited      chan struct{}
	waitErr     error
}

var addrRE = regexp.MustCompile(`addr=([0-9.]+:[0-9]+)`)

// BuildHazardbot builds cmd/hazardbot into dir (the benchmark must run inside
// the module, as `go run ./bench/...` does).
func BuildHazardbot(dir string) (string, error) {
	bin := filepath.Join(dir, "hazardbot")
	cmd := exec.Command("go", "build", "-o", bin, "hazardbot/cmd/hazardbot")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build hazardbot/cmd/hazardbot: %w", err)
	}
	return bin, nil
}

// ChildEnv is this process's environment without any HAZARDBOT_ or WECHAT_
// setting of the caller's, plus set.
func ChildEnv(set map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HAZARDBOT_") || strings.HasPrefix(kv, "WECHAT_") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// RunOnce runs bin with args and env to completion (e.g. `hazardbot migrate`).
func RunOnce(bin string, env []string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// StartChild starts bin and waits until it logs the address it listens on
// and answers GET ready (a path; "" skips that check).
func StartChild(name, bin string, args, env []string, logPath, ready string) (*Child, error) {
	c := &Child{name: name, log: logPath, exited: make(chan struct{})}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = env
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	c.cmd.Stdout = f
	if err := c.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	addrc := make(chan string, 1)
	go func() {
		defer f.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(f, line)
			switch {
			case strings.Contains(line, "level=ERROR"):
				c.Errs.Add(1)
			case strings.Contains(line, "level=WARN"):
				c.Warns.Add(1)
			}
			if !found && strings.Contains(line, "listening") {
				if m := addrRE.FindStringSubmatch(line); m != nil {
					found = true
					addrc <- m[1]
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	select {
	case c.Addr = <-addrc:
	case <-c.exited:
		return nil, fmt.Errorf("%s exited at start (%v); its log: %s", name, c.waitErr, logPath)
	case <-time.After(60 * time.Second):
		c.Stop()
		return nil, fmt.Errorf("%s did not say where it listens within 60 s; its log: %s", name, logPath)
	}
	if ready != "" {
		hc := &http.Client{Timeout: 2 * time.Second}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := hc.Get("http://" + c.Addr + ready)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			if time.Now().After(deadline) {
				c.Stop()
				return nil, fmt.Errorf("%s not ready: %v; its log: %s", name, err, logPath)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return c, nil
}

func (c *Child) Pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM (hazardbot shuts down gracefully) and SIGKILL after 20 s.
func (c *Child) Stop() error {
	select {
	case <-c.exited:
		return nil
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("%s ignored SIGTERM for 20 s and was killed", c.name)
	}
	var ee *exec.ExitError
	if c.waitErr != nil && !errors.As(c.waitErr, &ee) {
		return c.waitErr
	}
	return nil
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go runs on).
const clockTick = 100

// ProcCPU is a process's user+system CPU time so far, 0 if unreadable.
func ProcCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut+st) * time.Second / clockTick
}

// ProcMemory is a process's VmRSS and VmHWM in bytes.
func ProcMemory(pid int) (rss, hwm uint64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// FindProcess returns the pid of the first process whose command name is one
// of names (e.g. the local MariaDB server), 0 if none.
func FindProcess(names ...string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				return pid
			}
		}
	}
	return 0
}

// CPUMeter reads the CPU time of a set of processes together.
type CPUMeter struct {
	mu   sync.Mutex
	Pids []int
}

// each returns every process's CPU time so far, in the order of pids.
func (m *CPUMeter) Each() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]time.Duration, len(m.Pids))
	for i, p := range m.Pids {
		out[i] = ProcCPU(p)
	}
	return out
}
