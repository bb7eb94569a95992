package storage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"hazardbot/storage"
	"hazardbot/storage/storagetest"
)

func TestMigrateTwice(t *testing.T) {
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		// Stores has migrated once already.
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
		for _, table := range []string{"users", "jobs", "audit_log", "dedup"} {
			var n int
			if err := s.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+table); err != nil {
				t.Errorf("table %s: %v", table, err)
			}
		}
	})
}

func TestOpenBadDSN(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, dsn string
		want      []string // substrings of the error
	}{
		{"postgres URL", "postgres://u:secret@host/db", []string{`unsupported scheme "postgres"`, "mysql://user:pass@host:3306/db"}},
		{"no slash", "hazardbot.db", []string{"missing the slash", "user:pass@tcp(host:3306)/db"}},
		{"no database", "root@tcp(127.0.0.1:3306)/", []string{"missing database name"}},
		{"URL without database", "mysql://root:secret@127.0.0.1:3306", []string{"missing database name"}},
		{"URL without host", "mysql:///db", []string{"missing host"}},
		{"bad parameter", "root@tcp(127.0.0.1:3306)/test?parseTime=maybe", []string{"invalid bool value", "expected"}},
		{"sqlite without path", "sqlite:", []string{"file path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := storage.Open(ctx, tt.dsn, t.TempDir())
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.dsn)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q leaks the password", err)
			}
			if err := storage.CheckDSN(tt.dsn); err == nil {
				t.Errorf("CheckDSN(%q) accepted it", tt.dsn)
			}
		})
	}
	for _, good := range []string{"", "sqlite:/var/lib/hazardbot/hb.db", "root@tcp(db:3306)/hazardbot", "mysql://u:p@db/hazardbot"} {
		if err := storage.CheckDSN(good); err != nil {
			t.Errorf("CheckDSN(%q) = %v", good, err)
		}
	}
}

// The MySQL session is pinned to what the store relies on.
func TestMySQLSession(t *testing.T) {
	s := storagetest.OpenMySQL(t)
	var tz, charset string
	storagetest.Must(t, s.DB.QueryRow("SELECT @@session.time_zone, @@session.character_set_client").Scan(&tz, &charset))
	if tz != "+00:00" || charset != "utf8mb4" {
		t.Errorf("time_zone %q, charset %q", tz, charset)
	}
}

func TestMySQLConfigForms(t *testing.T) {
	tests := []struct {
		dsn                     string
		user, pass, addr, dbase string
	}{
		{"root@tcp(127.0.0.1:3306)/test", "root", "", "127.0.0.1:3306", "test"},
		{"u:p@tcp(db:3307)/hb?parseTime=false&loc=Local", "u", "p", "db:3307", "hb"},
		{"mysql://u:p%2F%40x@db/hb?timeout=2s", "u", "p/@x", "db:3306", "hb"},
		{"mariadb://u@db:3310/hb", "u", "", "db:3310", "hb"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			cfg, err := storage.MySQLConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.User != tt.user || cfg.Passwd != tt.pass || cfg.Addr != tt.addr || cfg.DBName != tt.dbase {
				t.Errorf("got %s:%s@%s/%s", cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName)
			}
			// Forced whatever the DSN said.
			if !cfg.ParseTime || cfg.Loc != time.UTC || !cfg.MultiStatements || !cfg.ClientFoundRows {
				t.Errorf("forced settings missing: %+v", cfg)
			}
			if !strings.Contains(cfg.FormatDSN(), "charset=utf8mb4") {
				t.Errorf("charset not forced: %s", cfg.FormatDSN())
			}
		})
	}
}

func TestSQLiteFileInDataDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir() + "/nested/data"
	s, err := storage.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mode string
	storagetest.Must(t, s.DB.GetContext(ctx, &mode, "PRAGMA journal_mode"))
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk int
	storagetest.Must(t, s.DB.GetContext(ctx, &fk, "PRAGMA foreign_keys"))
	if fk != 1 {
		t.Errorf("foreign_keys = %d, want 1", fk)
	}
	var file string
	storagetest.Must(t, s.DB.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file))
	if !strings.HasSuffix(file, "/nested/data/hazardbot.db") {
		t.Errorf("database file %q, want it in the data dir", file)
	}
}

// Times go in in any zone and come back as the same instant in UTC, to the
// microsecond, and compare correctly in SQL.
func TestTimeRoundTrip(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	storagetest.Stores(t, func(t *testing.T, s *storage.Store) {
		ctx := context.Background()
		times := []time.Time{
			time.Date(2025, 6, 1, 8, 0, 0, 123456789, shanghai),
			time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC),
			time.Date(2038, 1, 19, 3, 14, 8, 1000, time.UTC),
		}
		for i, in := range times {
			e := storage.AuditEntry{At: in, Actor: "test", Action: "roundtrip", SubjectType: "t", SubjectID: "x"}
			if err := s.AppendAudit(ctx, e); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		}
		got, err := s.AuditFor(ctx, "t", "x")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(times) {
			t.Fatalf("got %d entries", len(got))
		}
		// Ordered by at: 1999, 2025, 2038.
		want := []time.Time{times[1], times[0], times[2]}
		for i, e := range got {
			if e.At.Location() != time.UTC {
				t.Errorf("%d: location %v, want UTC", i, e.At.Location())
			}
			if w := want[i].Truncate(time.Microsecond).UTC(); !e.At.Equal(w) || e.At != w {
				t.Errorf("%d: got %v, want %v", i, e.At, w)
			}
		}
		// Comparison in SQL with a parameter in another zone.
		var n int
		storagetest.Must(t, s.DB.GetContext(ctx, &n, "SELECT COUNT(*) FROM audit_log WHERE at > ?",
			time.Date(2025, 6, 1, 0, 0, 1, 0, time.UTC)))
		if n != 1 {
			t.Errorf("entries after 2025-06-01 00:00:01 UTC = %d, want 1 (2038; 08:00 CST is 00:00 UTC)", n)
		}
		if s.Dialect == storage.DialectSQLite {
			var typ string
			storagetest.Must(t, s.DB.GetContext(ctx, &typ, "SELECT DISTINCT typeof(at) FROM audit_log"))
			if typ != "integer" {
				t.Errorf("SQLite stores times as %s, want integer microseconds", typ)
			}
		}
		// An aggregate scans through NullTime on both backends.
		var last storage.NullTime
		storagetest.Must(t, s.DB.GetContext(ctx, &last, "SELECT MAX(at) FROM audit_log"))
		if !last.Valid || !last.Time.Equal(times[2]) || last.Time.Location() != time.UTC {
			t.Errorf("MAX(at) = %+v, want %v", last, times[2])
		}
		storagetest.Must(t, s.DB.GetContext(ctx, &last, "SELECT MAX(at) FROM audit_log WHERE actor = 'nobody'"))
		if last.Valid {
			t.Errorf("MAX over no rows = %+v, want invalid", last)
		}
	})
}
