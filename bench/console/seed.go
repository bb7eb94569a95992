package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"hazardbot"
	"hazardbot/storage"
)

// seedVersion names the generator below; a database seeded by another
// version (or with another row count) is seeded again.
const seedVersion = "console-bench-v1"

// The data spans two years of a sub-district's reports, filed in order:
// statuses and risk levels follow each report's age (recent ones still
// open, old ones closed), a few cases under rectification are overdue.
const span = 2 * 365 * 24 * time.Hour

var (
	communities = []string{"c1", "c2", "c3", "c4", "c5"}
	commNames   = map[string]string{"c1": "东湖社区", "c2": "西园社区", "c3": "北苑社区", "c4": "南塘社区", "c5": "新华社区"}
	categoryIDs = []string{"fire", "gas", "electric", "building", "flood", "traffic", "elevator", "crowded", "geology", "chemical", "other"}
	catWeights  = []int{30, 6, 14, 10, 8, 10, 6, 3, 2, 1, 10}
	riskWeights = []struct {
		r hazardbot.Risk
		w int
	}{{hazardbot.RiskRed, 5}, {hazardbot.RiskOrange, 15}, {hazardbot.RiskYellow, 40}, {hazardbot.RiskBlue, 40}}
	deadlineFor = map[hazardbot.Risk]time.Duration{hazardbot.RiskRed: 24 * time.Hour, hazardbot.RiskOrange: 72 * time.Hour,
		hazardbot.RiskYellow: 168 * time.Hour, hazardbot.RiskBlue: 360 * time.Hour}
	places  = []string{"东湖路", "西园街", "北苑大道", "南塘巷", "新华路", "天水路", "滨河路", "建设街"}
	hazards = []string{"楼道堆满纸箱，堵住了消防通道", "电动车在楼道里私拉电线充电", "单元门口的灭火器已经过期", "地下室燃气管道锈蚀，有异味",
		"广告牌松动，大风天有掉落危险", "小区门口路面积水很深", "配电箱门坏了，电线裸露在外", "外墙瓷砖脱落，砸到了停着的车",
		"电梯经常困人，维保记录过期", "施工围挡倒塌，占了半条人行道", "商铺门口堆放液化气罐", "山坡上有落石，下面是小学上学路",
		"井盖缺失，晚上看不清很危险", "消防栓被杂物挡住了", "楼顶违章搭建的彩钢房"}
)

func pick(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

// statusFor draws a status for a report of this age.
func statusFor(r *rand.Rand, age time.Duration) hazardbot.Status {
	type sw struct {
		s hazardbot.Status
		w int
	}
	var table []sw
	switch {
	case age < 48*time.Hour:
		table = []sw{{hazardbot.StatusPending, 50}, {hazardbot.StatusVerified, 20}, {hazardbot.StatusAssigned, 15},
			{hazardbot.StatusFixing, 5}, {hazardbot.StatusRejected, 5}, {hazardbot.StatusDuplicate, 5}}
	case age < 30*24*time.Hour:
		table = []sw{{hazardbot.StatusPending, 5}, {hazardbot.StatusVerified, 5}, {hazardbot.StatusAssigned, 15},
			{hazardbot.StatusFixing, 20}, {hazardbot.StatusReview, 10}, {hazardbot.StatusClosed, 35},
			{hazardbot.StatusRejected, 5}, {hazardbot.StatusDuplicate, 5}}
	default:
		table = []sw{{hazardbot.StatusClosed, 85}, {hazardbot.StatusRejected, 8}, {hazardbot.StatusDuplicate, 5},
			{hazardbot.StatusFixing, 1}, {hazardbot.StatusAssigned, 1}}
	}
	ws := make([]int, len(table))
	for i, t := range table {
		ws[i] = t.w
	}
	return table[pick(r, ws)].s
}

// seedRow is one report's columns, in insertCols order.
func seedRow(r *rand.Rand, i int, created, latest time.Time, ticket string) []any {
	comm := communities[pick(r, []int{30, 20, 20, 15, 15})]
	grid := fmt.Sprintf("%s-g%d", comm, 1+r.IntN(4))
	cat := categoryIDs[pick(r, catWeights)]
	status := statusFor(r, latest.Sub(created))
	var risk hazardbot.Risk
	verified := status != hazardbot.StatusPending && status != hazardbot.StatusRejected && status != hazardbot.StatusDuplicate
	if verified {
		ws := make([]int, len(riskWeights))
		for j, x := range riskWeights {
			ws[j] = x.w
		}
		risk = riskWeights[pick(r, ws)].r
	}
	updated := created
	var verifiedAt, deadline, closedAt, overdueAt sql.NullTime
	var assigneeType, assigneeID, assigneeName, rect string
	overdue := false
	if verified {
		updated = created.Add(time.Duration(1+r.IntN(20)) * time.Hour)
		verifiedAt = sql.NullTime{Time: updated, Valid: true}
	}
	switch status {
	case hazardbot.StatusAssigned, hazardbot.StatusFixing, hazardbot.StatusReview, hazardbot.StatusClosed:
		assigneeType, assigneeID, assigneeName = "community", comm, commNames[comm]
		dl := updated.Add(deadlineFor[risk])
		deadline = sql.NullTime{Time: dl, Valid: true}
		updated = updated.Add(time.Duration(1+r.IntN(12)) * time.Hour)
		if (status == hazardbot.StatusAssigned || status == hazardbot.StatusFixing) && dl.Before(latest) {
			overdue, overdueAt = true, sql.NullTime{Time: dl, Valid: true}
		}
		if status == hazardbot.StatusReview || status == hazardbot.StatusClosed {
			rect = "已清理完毕，现场照片见附件"
		}
		if status == hazardbot.StatusClosed {
			updated = updated.Add(time.Duration(1+r.IntN(int(deadlineFor[risk]/time.Hour))) * time.Hour)
			closedAt = sql.NullTime{Time: updated, Valid: true}
		}
	case hazardbot.StatusRejected, hazardbot.StatusDuplicate:
		updated = created.Add(time.Duration(1+r.IntN(48)) * time.Hour)
	}
	if updated.After(latest) {
		updated = latest
	}
	dup := ""
	if status == hazardbot.StatusDuplicate {
		dup = "YH-20240101-0001"
	}
	phone := ""
	if r.IntN(4) > 0 {
		phone = fmt.Sprintf("1%d%09d", 3+r.IntN(7), r.IntN(1_000_000_000))
	}
	place := places[r.IntN(len(places))]
	addr := fmt.Sprintf("%s%d号%d号楼", place, 1+r.IntN(200), 1+r.IntN(30))
	desc := fmt.Sprintf("%s%d号楼%s", place, 1+r.IntN(30), hazards[r.IntN(len(hazards))])
	source := "wechat"
	if r.IntN(20) == 0 {
		source = "open311"
	}
	supervised := verified && r.IntN(100) == 0
	supUnit := ""
	if supervised {
		supUnit = "区应急管理局"
	}
	lat := 36.0495 + r.Float64()*0.021
	lng := 103.8245 + r.Float64()*0.031
	return []any{ticket, fmt.Sprintf("bench:%d", i), fmt.Sprintf("oRes%07d", r.IntN(150_000)), source, cat, desc,
		lat, lng, "gcj02", addr, comm, grid, phone, phone == "", cat == "gas" || r.IntN(40) == 0, string(status),
		string(risk), created, updated, assigneeType, assigneeID, assigneeName, deadline, overdue, overdueAt,
		supervised, supUnit, dup, nullString(rect), verifiedAt, closedAt}
}

// newRand is the generator's fixed-seed source: every seeding makes the same data.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(20250314, 8)) }

// splitCols lists the columns of a column list.
func splitCols(cols string) []string { return strings.Split(cols, ",") }

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

const insertCols = `ticket, submit_key, openid, source, category, description, lat, lng, coord_sys, address, community_id,
	grid_id, phone, anonymous, urgent, status, risk_level, created_at, updated_at, assignee_type, assignee_id, assignee_name,
	deadline, overdue, overdue_at, supervised, supervising_unit, duplicate_of, rectification, verified_at, closed_at`

// seed empties the reports and fills them with n generated ones ending at
// latest, in multi-row INSERTs of batch rows, several per transaction, on
// one connection with unique and foreign-key checks off (the generator
// makes tickets and keys unique by construction).
func seed(ctx context.Context, st *storage.Store, n, batch int, latest time.Time, progress io.Writer) error {
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{"SET SESSION foreign_key_checks = 0", "SET SESSION unique_checks = 0"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	// Everything that refers to reports goes too; the benchmark's database
	// holds nothing else.
	for _, t := range []string{"report_followers", "report_photos", "report_events", "case_photos", "open311_requests", "reports", "ticket_counters"} {
		if _, err := conn.ExecContext(ctx, "TRUNCATE TABLE "+t); err != nil {
			return fmt.Errorf("empty %s: %w", t, err)
		}
	}
	r := newRand()
	start := latest.Add(-span)
	step := span / time.Duration(n)
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(splitCols(insertCols))), ", ") + ")"
	const perTx = 20
	began := time.Now()
	day, dayN := "", 0
	var tx *sql.Tx
	stmts := 0
	for i := 0; i < n; i += batch {
		if tx == nil {
			if tx, err = conn.BeginTx(ctx, nil); err != nil {
				return err
			}
		}
		m := min(batch, n-i)
		args := make([]any, 0, m*31)
		for j := i; j < i+m; j++ {
			created := start.Add(time.Duration(j)*step + time.Duration(r.Int64N(int64(step))))
			if d := hazardbot.Day(created); d != day {
				day, dayN = d, 0
			}
			dayN++
			args = append(args, seedRow(r, j, created.UTC(), latest, hazardbot.Ticket(created, dayN))...)
		}
		q := "INSERT INTO reports (" + insertCols + ") VALUES " + strings.TrimSuffix(strings.Repeat(ph+", ", m), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tx.Rollback()
			return fmt.Errorf("insert rows %d–%d: %w", i, i+m, err)
		}
		if stmts++; stmts == perTx || i+m >= n {
			if err := tx.Commit(); err != nil {
				return err
			}
			tx, stmts = nil, 0
		}
		if (i/batch)%100 == 99 {
			done := i + m
			el := time.Since(began)
			fmt.Fprintf(progress, "seeded %d / %d reports (%.0f rows/s)\n", done, n, float64(done)/el.Seconds())
		}
	}
	return nil
}
