package storage

import (
	"context"
	"errors"
	"os"
	"testing"
)

// isDuplicate recognises a unique-key violation from either driver, so that
// code racing on a unique key can fall back to the winner's row.
func TestIsDuplicate(t *testing.T) {
	ctx := context.Background()
	dsns := map[string]string{"sqlite": ""}
	if d := os.Getenv("HAZARDBOT_TEST_MYSQL"); d != "" {
		dsns["mysql"] = d
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, dsn, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A temporary table, which lives on one connection: this test
			// must not depend on migrations or leave anything behind in a
			// shared MySQL database.
			s.DB.SetMaxOpenConns(1)
			if _, err := s.DB.ExecContext(ctx, "CREATE TEMPORARY TABLE dup_probe (k VARCHAR(10) PRIMARY KEY, u VARCHAR(10) UNIQUE)"); err != nil {
				t.Fatal(err)
			}
			insert := func(k, u string) error {
				_, err := s.DB.ExecContext(ctx, "INSERT INTO dup_probe (k, u) VALUES (?, ?)", k, u)
				return err
			}
			if err := insert("a", "x"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ k, u string }{{"a", "y"}, {"b", "x"}} {
				if err := insert(tc.k, tc.u); !isDuplicate(err) {
					t.Errorf("insert %v: isDuplicate(%v) = false", tc, err)
				}
			}
			if isDuplicate(errors.New("UNIQUE constraint failed")) || isDuplicate(nil) || isDuplicate(context.DeadlineExceeded) {
				t.Error("isDuplicate matched a non-driver error")
			}
		})
	}
}
