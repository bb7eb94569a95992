package storage

import (
	"context"
	"fmt"
)

// ReportsByStatus counts the reports in each status, for the metrics a
// scrape reads. It walks the (status, …) index only, so it stays cheap
// however many reports there are.
func (s *Store) ReportsByStatus(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}
	if err := s.DB.SelectContext(ctx, &rows, "SELECT status, COUNT(*) AS n FROM reports GROUP BY status"); err != nil {
		return nil, fmt.Errorf("storage: reports by status: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}
