package storage

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"time"
)

// NullTime scans a time that SQL computed rather than read from a column —
// MIN(run_at), MAX(at), COALESCE(...). SQLite gives such an expression no
// declared type, so it arrives as the raw Unix microseconds we store; MySQL
// gives a time.Time. Plain DATETIME columns scan into time.Time directly and
// don't need this.
type NullTime struct {
	Time  time.Time // UTC
	Valid bool      // false for SQL NULL
}

// Scan implements sql.Scanner.
func (n *NullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n = NullTime{}
	case time.Time:
		*n = NullTime{Time: x.UTC(), Valid: true}
	case int64:
		*n = NullTime{Time: time.UnixMicro(x).UTC(), Valid: true}
	case []byte:
		return n.Scan(string(x))
	case string:
		if us, err := strconv.ParseInt(x, 10, 64); err == nil {
			*n = NullTime{Time: time.UnixMicro(us).UTC(), Valid: true}
			return nil
		}
		t, err := time.Parse("2006-01-02 15:04:05.999999", x)
		if err != nil {
			return fmt.Errorf("storage: scan time %q: %w", x, err)
		}
		*n = NullTime{Time: t.UTC(), Valid: true}
	default:
		return fmt.Errorf("storage: scan time: unsupported type %T", v)
	}
	return nil
}

// Value implements driver.Valuer, so a NullTime can also be bound.
func (n NullTime) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return n.Time.UTC(), nil
}
