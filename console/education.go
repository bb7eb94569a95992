package console

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"time"

	"hazardbot"
	"hazardbot/storage"
)

// EducationStats is what the 安全学堂 page reads.
type EducationStats interface {
	QuizParticipationByDay(ctx context.Context, fromDay, toDay string) ([]storage.QuizParticipation, error)
	MostMissedQuestions(ctx context.Context, fromDay, toDay string, limit int) ([]storage.MissedQuestion, error)
}

// educationDays is how far back the page looks.
const educationDays = 14

type eduPages struct {
	c      *Console
	stats  EducationStats
	reload func() error
}

// AddEducation mounts the 安全学堂 page: quiz participation by day and
// community, the questions most often missed, and (for admins) a reload of
// the content files — articles and questions — without a restart.
func (c *Console) AddEducation(stats EducationStats, reload func() error) {
	p := &eduPages{c: c, stats: stats, reload: reload}
	c.mux.HandleFunc("GET /console/education", c.auth(anyone, p.page))
	c.mux.HandleFunc("POST /console/content/reload", c.auth(adminOnly, p.reloadContent))
}

type eduDay struct {
	Day                           string
	Residents, Finished, Accuracy int
}

type eduCommunity struct {
	Name                          string
	Residents, Finished, Accuracy int
}

type eduMissed struct {
	ID, Topic, Text string
	Answers, Wrong  int
	Rate            int
}

type eduView struct {
	From, To    string
	Days        []eduDay
	Communities []eduCommunity
	Missed      []eduMissed
	Questions   int
	Articles    int
	Reloaded    bool
	Problem     string
}

func percent(part, whole int) int {
	if whole == 0 {
		return 0
	}
	return part * 100 / whole
}

func (p *eduPages) page(w http.ResponseWriter, r *request) error {
	to := hazardbot.Day(r.now)
	from := hazardbot.Day(r.now.Add(-(educationDays - 1) * 24 * time.Hour))
	rows, err := p.stats.QuizParticipationByDay(r.Context(), from, to)
	if err != nil {
		return err
	}
	missed, err := p.stats.MostMissedQuestions(r.Context(), from, to, 10)
	if err != nil {
		return err
	}
	cont := p.c.Content()
	v := eduView{From: from, To: to, Questions: len(cont.Quiz), Articles: len(cont.Knowledge),
		Reloaded: r.URL.Query().Get("reloaded") == "1", Problem: r.URL.Query().Get("problem")}
	days := map[string]*eduDay{}
	comms := map[string]*eduCommunity{}
	answers, correct := map[string]int{}, map[string]int{}
	for _, row := range rows {
		d := days[row.Day]
		if d == nil {
			d = &eduDay{Day: row.Day}
			days[row.Day] = d
		}
		d.Residents += row.Residents
		d.Finished += row.Finished
		answers["d"+row.Day] += row.Answers
		correct["d"+row.Day] += row.Correct
		name := p.c.communityName(row.CommunityID)
		cm := comms[name]
		if cm == nil {
			cm = &eduCommunity{Name: name}
			comms[name] = cm
		}
		cm.Residents += row.Residents
		cm.Finished += row.Finished
		answers["c"+name] += row.Answers
		correct["c"+name] += row.Correct
	}
	for _, d := range days {
		d.Accuracy = percent(correct["d"+d.Day], answers["d"+d.Day])
		v.Days = append(v.Days, *d)
	}
	sort.Slice(v.Days, func(i, j int) bool { return v.Days[i].Day > v.Days[j].Day })
	for _, cm := range comms {
		cm.Accuracy = percent(correct["c"+cm.Name], answers["c"+cm.Name])
		v.Communities = append(v.Communities, *cm)
	}
	sort.Slice(v.Communities, func(i, j int) bool { return v.Communities[i].Residents > v.Communities[j].Residents })
	for _, m := range missed {
		e := eduMissed{ID: m.QuestionID, Answers: m.Answers, Wrong: m.Wrong, Rate: percent(m.Wrong, m.Answers), Text: "（题库中已没有这道题）"}
		if q, ok := cont.QuestionByID(m.QuestionID); ok {
			e.Topic, e.Text = q.Topic, q.Text
		}
		v.Missed = append(v.Missed, e)
	}
	p.c.render(w, r, http.StatusOK, "education", "安全学堂", v)
	return nil
}

// reloadContent reads the content files again; invalid files leave the
// content in force untouched and say what is wrong.
func (p *eduPages) reloadContent(w http.ResponseWriter, r *request) error {
	target := "/console/education?reloaded=1"
	if err := p.reload(); err != nil {
		target = "/console/education?problem=" + url.QueryEscape(err.Error())
	} else if err := p.c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(),
		Action: "content.reload", SubjectType: "content", SubjectID: "all"}); err != nil {
		return err
	}
	http.Redirect(w, r.Request, target, http.StatusSeeOther)
	return nil
}
