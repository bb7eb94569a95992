package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"go.yaml.in/yaml/v3"

	"hazardbot"
	"hazardbot/server"
	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

// No Docker engine runs where these tests run: they read the compose file
// and check that it agrees with the code (server/config.go), the
// Dockerfile, nginx.conf, .env.example and the README, and they run the
// backup and restore scripts against MariaDB.

type healthcheck struct {
	Test []string `yaml:"test"`
}

type service struct {
	Image       string                       `yaml:"image"`
	Build       map[string]string            `yaml:"build"`
	Environment map[string]string            `yaml:"environment"`
	Volumes     []string                     `yaml:"volumes"`
	Expose      []string                     `yaml:"expose"`
	Ports       []string                     `yaml:"ports"`
	Healthcheck *healthcheck                 `yaml:"healthcheck"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Profiles    []string                     `yaml:"profiles"`
	Restart     string                       `yaml:"restart"`
	Entrypoint  []string                     `yaml:"entrypoint"`
}

type composeFile struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(read(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// replicas are the hazardbot services: the ones built from the Dockerfile.
func replicas(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if s.Build["dockerfile"] == "Dockerfile" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// configVars are the variables server/config.go reads.
func configVars(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:HAZARDBOT|WECHAT)_[A-Z0-9_]+)"`).FindAllStringSubmatch(read(t, "../server/config.go"), -1) {
		out[m[1]] = true
	}
	if len(out) < 10 {
		t.Fatalf("found only %d variables in server/config.go", len(out))
	}
	return out
}

// dotenv reads .env.example.
func dotenv(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(read(t, ".env.example"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is not NAME=value", line)
		}
		out[k] = v
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// substitute does compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with
// the values of .env.example.
func substitute(s string, env map[string]string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		if v, ok := env[p[1]]; ok && v != "" {
			return v
		}
		if p[2] == ":-" || p[2] == "-" {
			return p[3]
		}
		return ""
	})
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	if got := replicas(c); !slices.Equal(got, []string{"hazardbot-1", "hazardbot-2"}) {
		t.Fatalf("hazardbot replicas %v, want two", got)
	}
	if img := c.Services["mysql"].Image; !strings.HasPrefix(img, "mysql:8") {
		t.Errorf("mysql image %q, want MySQL 8", img)
	}
	if img := c.Services["redis"].Image; !strings.HasPrefix(img, "redis:7") {
		t.Errorf("redis image %q, want Redis 7", img)
	}
	if !strings.HasPrefix(c.Services["nginx"].Image, "nginx:") {
		t.Errorf("no nginx in front")
	}
	for name, s := range c.Services {
		if len(s.Profiles) > 0 {
			continue // tools run on demand
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("%s has no health check", name)
		}
		if s.Restart != "unless-stopped" {
			t.Errorf("%s restarts %q", name, s.Restart)
		}
	}
	// The replicas wait for healthy MySQL and Redis, and the second for the
	// first, which runs the migrations.
	for _, name := range replicas(c) {
		deps := c.Services[name].DependsOn
		for _, d := range []string{"mysql", "redis"} {
			if deps[d]["condition"] != "service_healthy" {
				t.Errorf("%s does not wait for a healthy %s", name, d)
			}
		}
		if c.Services[name].Image != c.Services["hazardbot-1"].Image {
			t.Errorf("%s runs another image", name)
		}
	}
	if c.Services["hazardbot-2"].DependsOn["hazardbot-1"]["condition"] != "service_healthy" {
		t.Error("hazardbot-2 may migrate at the same time as hazardbot-1")
	}
	if !slices.Contains(c.Services["nginx"].Ports, "80:80") || !slices.Contains(c.Services["nginx"].Ports, "443:443") {
		t.Errorf("nginx publishes %v, WeChat needs 80 and 443", c.Services["nginx"].Ports)
	}
	for name, s := range c.Services {
		if name != "nginx" && len(s.Ports) > 0 {
			t.Errorf("%s is published on the host (%v): only nginx should be", name, s.Ports)
		}
	}
}

func TestComposeEnvironmentMatchesTheConfig(t *testing.T) {
	c := loadCompose(t)
	vars := configVars(t)
	env := dotenv(t)
	readme := read(t, "../README.md")
	for _, name := range replicas(c) {
		e := c.Services[name].Environment
		for k := range e {
			if (strings.HasPrefix(k, "HAZARDBOT_") || strings.HasPrefix(k, "WECHAT_")) && !vars[k] {
				t.Errorf("%s sets %s, which server/config.go does not read", name, k)
			}
			if (strings.HasPrefix(k, "HAZARDBOT_") || strings.HasPrefix(k, "WECHAT_")) && !strings.Contains(readme, k) {
				t.Errorf("%s sets %s, which README.md does not describe", name, k)
			}
		}
		for _, k := range []string{"HAZARDBOT_DB", "HAZARDBOT_REDIS_URL", "HAZARDBOT_PUBLIC_URL", "HAZARDBOT_DATA_DIR",
			"WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_TOKEN", "WECHAT_AES_KEY"} {
			if e[k] == "" {
				t.Errorf("%s lacks %s", name, k)
			}
		}
		// With .env.example's values the replicas' environment is a valid
		// production configuration (not the demo mode).
		resolved := map[string]string{}
		for k, v := range e {
			resolved[k] = substitute(v, env)
		}
		cfg, err := server.ConfigFromEnv(func(k string) string { return resolved[k] })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Demo || cfg.DB == "" || cfg.RedisURL == "" || cfg.RetentionDays != 365 {
			t.Fatalf("%s configures %+v", name, cfg)
		}
		if !strings.Contains(cfg.DB, "@tcp(mysql:3306)/"+c.Services["mysql"].Environment["MYSQL_DATABASE"]) ||
			!strings.HasPrefix(cfg.RedisURL, "redis://redis:") {
			t.Errorf("%s does not reach the compose mysql and redis: %s %s", name, cfg.DB, cfg.RedisURL)
		}
	}
	// Every ${VAR} the file uses is in .env.example, and .env.example sets
	// nothing the code does not read.
	for _, m := range interpolation.FindAllStringSubmatch(read(t, "docker-compose.yml"), -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example lacks", m[1])
		}
	}
	for k := range env {
		if (strings.HasPrefix(k, "HAZARDBOT_") || strings.HasPrefix(k, "WECHAT_")) && !vars[k] {
			t.Errorf(".env.example sets %s, which server/config.go does not read", k)
		}
	}
}

// dockerfile reads the instructions of the Dockerfile's final stage,
// continuation lines joined.
func dockerfile(t *testing.T) map[string]string {
	t.Helper()
	text := strings.ReplaceAll(read(t, "../Dockerfile"), "\\\n", " ")
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		if instr == "FROM" {
			out = map[string]string{} // a new stage
		}
		out[instr] += strings.Join(strings.Fields(rest), " ")
	}
	return out
}

func TestComposeAgreesWithTheDockerfile(t *testing.T) {
	c := loadCompose(t)
	df := dockerfile(t)

	// HEALTHCHECK … CMD ["/usr/local/bin/hazardbot", "healthcheck"]
	_, cmd, ok := strings.Cut(df["HEALTHCHECK"], "CMD ")
	var want []string
	if !ok || json.Unmarshal([]byte(cmd), &want) != nil {
		t.Fatalf("Dockerfile HEALTHCHECK %q", df["HEALTHCHECK"])
	}
	var volumes []string
	if err := json.Unmarshal([]byte(df["VOLUME"]), &volumes); err != nil || len(volumes) != 1 {
		t.Fatalf("Dockerfile VOLUME %q", df["VOLUME"])
	}
	dataDir := volumes[0]
	if !strings.Contains(df["ENV"], "HAZARDBOT_DATA_DIR="+dataDir) {
		t.Fatalf("Dockerfile ENV %q does not put the data in %s", df["ENV"], dataDir)
	}
	port := df["EXPOSE"]
	for _, name := range replicas(c) {
		s := c.Services[name]
		if !slices.Equal(s.Healthcheck.Test, append([]string{"CMD"}, want...)) {
			t.Errorf("%s checks %v, the Dockerfile %v", name, s.Healthcheck.Test, want)
		}
		if !slices.Contains(s.Volumes, "data:"+dataDir) || s.Environment["HAZARDBOT_DATA_DIR"] != dataDir {
			t.Errorf("%s keeps its data in %v / %s, the Dockerfile in %s", name, s.Volumes, s.Environment["HAZARDBOT_DATA_DIR"], dataDir)
		}
		if !slices.Equal(s.Expose, []string{port}) {
			t.Errorf("%s exposes %v, the Dockerfile %s", name, s.Expose, port)
		}
		if addr := s.Environment["HAZARDBOT_ADDR"]; addr != "" && addr != ":"+port {
			t.Errorf("%s listens on %s", name, addr)
		}
	}
	for _, v := range []string{"data", "mysql"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Errorf("volume %s is not declared", v)
		}
	}
	// The backup reads the same volume the replicas write.
	if b := c.Services["backup"]; !slices.Contains(b.Volumes, "data:"+dataDir+":ro") || b.Environment["DATA_DIR"] != dataDir {
		t.Errorf("backup reads %v / %s", b.Volumes, b.Environment["DATA_DIR"])
	}
	if r := c.Services["restore"]; !slices.Contains(r.Volumes, "data:"+dataDir) || r.Environment["DATA_DIR"] != dataDir {
		t.Errorf("restore writes %v / %s", r.Volumes, r.Environment["DATA_DIR"])
	}

	// nginx balances over exactly the replicas, on the Dockerfile's port,
	// and keeps /metrics inside.
	conf := read(t, "nginx.conf")
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):(\d+)`).FindAllStringSubmatch(conf, -1) {
		if m[2] != port {
			t.Errorf("nginx sends to %s:%s, the replicas listen on %s", m[1], m[2], port)
		}
		upstreams = append(upstreams, m[1])
	}
	if slices.Sort(upstreams); !slices.Equal(upstreams, replicas(c)) {
		t.Errorf("nginx upstreams %v, replicas %v", upstreams, replicas(c))
	}
	if !regexp.MustCompile(`location = /metrics \{\s*deny all;`).MatchString(conf) {
		t.Error("nginx serves /metrics to the world")
	}
	if !strings.Contains(conf, "listen 443 ssl") || !strings.Contains(conf, "ssl_certificate /etc/nginx/certs/") ||
		!slices.Contains(c.Services["nginx"].Volumes, "./certs:/etc/nginx/certs:ro") ||
		!slices.Contains(c.Services["nginx"].Volumes, "./nginx.conf:/etc/nginx/nginx.conf:ro") {
		t.Error("nginx does not terminate TLS with the mounted certificates and configuration")
	}
}

func TestReadmeDescribesTheDeployment(t *testing.T) {
	readme := read(t, "../README.md")
	c := loadCompose(t)
	for _, h := range []string{"## Open311", "## Metrics", "## Deployment (docker compose)", "## Backup and restore",
		"## Data retention", "## Production checklist"} {
		if !strings.Contains(readme, "\n"+h+"\n") {
			t.Errorf("README.md lacks the section %q", h)
		}
	}
	// The commands it gives name services that exist.
	for _, m := range regexp.MustCompile(`docker compose (?:run --rm|exec|stop|start|up -d --no-deps) ([a-z0-9-]+(?: [a-z0-9-]+)*)`).FindAllStringSubmatch(readme, -1) {
		svc := strings.Fields(m[1])[0]
		if _, ok := c.Services[svc]; !ok {
			t.Errorf("README.md runs `%s` on %q, which docker-compose.yml lacks", m[0], svc)
		}
	}
	for _, w := range []string{"hazardbot menu push", "hazardbot retention --dry-run", "IP白名单", "EncodingAESKey",
		"WECHAT_TEMPLATE_STATUS", "Asia/Shanghai", "fullchain.pem", "HAZARDBOT_OPEN311_KEYS", "HAZARDBOT_RETENTION_DAYS"} {
		if !strings.Contains(readme, w) {
			t.Errorf("README.md does not mention %s", w)
		}
	}
	for _, script := range []string{"backup.sh", "restore.sh"} {
		if out, err := exec.Command("sh", "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s: %v %s", script, err, out)
		}
	}
}

// TestBackupAndRestoreOnMariaDB runs backup.sh and restore.sh as the README
// says, against MariaDB: a database with reports, their timeline and photo
// files is backed up, restored into an empty database and a fresh data
// directory, and compared.
func TestBackupAndRestoreOnMariaDB(t *testing.T) {
	dsn := os.Getenv(storagetest.EnvMySQL)
	if dsn == "" {
		t.Skipf("%s not set", storagetest.EnvMySQL)
	}
	for _, tool := range []string{"sh", "tar", "gzip", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	if _, err := exec.LookPath("mariadb-dump"); err != nil {
		if _, err := exec.LookPath("mysqldump"); err != nil {
			t.Skip("neither mariadb-dump nor mysqldump is installed")
		}
	}
	ctx := context.Background()
	src := storagetest.OpenMySQL(t)
	var srcName string
	storagetest.Must(t, src.DB.GetContext(ctx, &srcName, "SELECT DATABASE()"))

	// A report with a stored photo, and one that moved on.
	dataDir := t.TempDir()
	now := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	r := &hazardbot.Report{OpenID: "o-backup", Category: "fire", Description: "楼道堆满纸箱", HasLocation: true, Lat: 36.065, Lng: 103.848,
		Photos: []hazardbot.Photo{{MediaID: "m1"}}}
	storagetest.Must(t, src.SubmitReport(ctx, r, "k1", now))
	photo := []byte("\xff\xd8\xff\xe0 a photo of boxes")
	sum := sha256.Sum256(photo)
	hash := hex.EncodeToString(sum[:])
	rel := filepath.Join("photos", hash[:2], hash+".jpg")
	storagetest.Must(t, os.MkdirAll(filepath.Join(dataDir, filepath.Dir(rel)), 0o750))
	storagetest.Must(t, os.WriteFile(filepath.Join(dataDir, rel), photo, 0o640))
	storagetest.Must(t, src.SetPhotoStored(ctx, r.Photos[0].ID, hash, int64(len(photo)), filepath.ToSlash(rel), now))
	_, err := src.ChangeStatus(ctx, storage.StatusChange{ReportID: r.ID, From: hazardbot.StatusPending, To: hazardbot.StatusVerified,
		Actor: "staff:li", Note: "已核实", Public: true, At: now.Add(time.Hour)})
	storagetest.Must(t, err)

	cfg, err := storage.MySQLConfig(dsn)
	storagetest.Must(t, err)
	host, port, _ := strings.Cut(cfg.Addr, ":")
	scriptEnv := func(db string, more ...string) []string {
		return append(append(os.Environ(), "MYSQL_HOST="+host, "MYSQL_PORT="+port, "MYSQL_USER="+cfg.User,
			"MYSQL_PWD="+cfg.Passwd, "MYSQL_DATABASE="+db), more...)
	}

	backups := t.TempDir()
	cmd := exec.Command("sh", "backup.sh")
	cmd.Env = scriptEnv(srcName, "DATA_DIR="+dataDir, "BACKUP_DIR="+backups)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("backup.sh: %v\n%s", err, exitOutput(err))
	}
	dir := strings.TrimSpace(string(out))
	for _, f := range []string{"database.sql.gz", "photos.tar.gz", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the backup lacks %s: %v", f, err)
		}
	}

	// Restore into an empty database and an empty data directory.
	admin, err := sqlx.Open("mysql", cfg.FormatDSN())
	storagetest.Must(t, err)
	defer admin.Close()
	dstName := srcName + "_restored"
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+dstName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	storagetest.Must(t, err)
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+dstName) })
	restored := t.TempDir()
	cmd = exec.Command("sh", "restore.sh", dir)
	cmd.Env = scriptEnv(dstName, "DATA_DIR="+restored)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore.sh: %v\n%s", err, out)
	}

	cfg.DBName = dstName
	dst, err := storage.Open(ctx, cfg.FormatDSN(), "")
	storagetest.Must(t, err)
	defer dst.Close()
	storagetest.Must(t, dst.Migrate(ctx)) // nothing left to apply: the version table came along
	got, err := dst.ReportByTicket(ctx, r.Ticket)
	storagetest.Must(t, err)
	want, err := src.ReportByTicket(ctx, r.Ticket)
	storagetest.Must(t, err)
	if g, w := jsonOf(got), jsonOf(want); g != w {
		t.Fatalf("restored report\n%s\nwant\n%s", g, w)
	}
	gotTL, err := dst.Timeline(ctx, r.ID, false)
	storagetest.Must(t, err)
	wantTL, err := src.Timeline(ctx, r.ID, false)
	storagetest.Must(t, err)
	if jsonOf(gotTL) != jsonOf(wantTL) || len(gotTL) != 2 {
		t.Fatalf("restored timeline %s", jsonOf(gotTL))
	}
	data, err := os.ReadFile(filepath.Join(restored, got.Photos[0].Path))
	storagetest.Must(t, err)
	if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != got.Photos[0].SHA256 {
		t.Fatal("the restored photo does not match its row")
	}

	// A damaged backup is refused before anything changes.
	storagetest.Must(t, os.WriteFile(filepath.Join(dir, "photos.tar.gz"), []byte("garbage"), 0o640))
	cmd = exec.Command("sh", "restore.sh", dir)
	cmd.Env = scriptEnv(dstName, "DATA_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("a damaged backup was restored: %s", out)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func exitOutput(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
