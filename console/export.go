package console

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/xuri/excelize/v2"

	"hazardbot"
	"hazardbot/storage"
)

// LedgerSheet is the worksheet of the hazard ledger (隐患台账).
const LedgerSheet = "隐患台账"

// LedgerHeader is the ledger's first row. The reporter appears only as a
// masked phone, whoever exports: the file leaves the console's control.
var LedgerHeader = []string{"工单号", "上报时间", "类别", "隐患描述", "地址", "社区", "网格", "风险等级", "状态",
	"紧急", "责任单位", "整改期限", "是否逾期", "挂牌督办", "督办单位", "整改情况", "销号时间", "联系电话", "关注人数"}

const maxLedgerRows = 10000

// export writes the cases the list's filters select as an .xlsx ledger.
func (c *Console) export(w http.ResponseWriter, r *request) error {
	f := parseFilters(r.URL.Query())
	q, err := f.query(r.actor())
	if err != nil {
		return err
	}
	q.Offset, q.Limit = 0, maxLedgerRows
	cases, total, err := c.Store.Cases(r.Context(), q)
	if err != nil {
		return err
	}
	data, err := c.ledger(cases)
	if err != nil {
		return err
	}
	if err := c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(), Action: "cases.export",
		SubjectType: "ledger", Detail: fmt.Sprintf("%d of %d rows; filters: %s", len(cases), total, f.values().Encode())}); err != nil {
		return err
	}
	name := "隐患台账-" + r.now.In(hazardbot.Shanghai).Format("20060102-1504") + ".xlsx"
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ledger-%s.xlsx"; filename*=UTF-8''%s`,
		r.now.In(hazardbot.Shanghai).Format("20060102-1504"), url.PathEscape(name)))
	_, err = w.Write(data)
	return err
}

func (c *Console) ledger(cases []hazardbot.Case) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", LedgerSheet); err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	sw, err := f.NewStreamWriter(LedgerSheet)
	if err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDE6F3"}}})
	if err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	widths := []float64{19, 17, 16, 40, 24, 12, 18, 10, 9, 6, 18, 17, 9, 9, 16, 30, 17, 14, 9}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return nil, fmt.Errorf("console: ledger: %w", err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	head := make([]any, len(LedgerHeader))
	for i, h := range LedgerHeader {
		head[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	yes := func(b bool) string {
		if b {
			return "是"
		}
		return "否"
	}
	for i, cs := range cases {
		risk := ""
		if cs.Risk().Valid() {
			risk = cs.Risk().Name()
		}
		phone := MaskPhone(cs.Phone)
		if cs.Anonymous || phone == "" {
			phone = "匿名"
		}
		// Every value is a string cell: text a resident typed that starts
		// with "=" stays text, never a formula.
		row := []any{cs.Ticket, shanghai(cs.CreatedAt), c.categoryName(cs.Category), cs.Description, cs.Address,
			c.communityName(cs.CommunityID), c.gridName(cs.GridID), risk, cs.Status.Name(), yes(cs.Urgent), cs.AssigneeName,
			shanghai(cs.Deadline), yes(cs.Overdue), yes(cs.Supervised), cs.SupervisingUnit, cs.Rectification,
			shanghai(cs.ClosedAt), phone, fmt.Sprint(cs.Followers)}
		for j, v := range row {
			if s, ok := v.(string); ok {
				row[j] = strings.ToValidUTF8(s, "")
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			return nil, fmt.Errorf("console: ledger row %d: %w", i+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		return nil, fmt.Errorf("console: ledger: %w", err)
	}
	return b.Bytes(), nil
}
