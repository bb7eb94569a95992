package dialogs

import (
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"

	"hazardbot/content"
)

// The knowledge base answers a resident's free question with the best
// article. Chinese has no spaces and we run no segmenter, so text is cut
// into overlapping character bigrams ("燃气泄漏" → 燃气, 气泄, 泄漏), which
// catch most words and all of the common two-character ones; runs of Latin
// letters and digits (CPR, AED, 119) stay whole. Articles are ranked with
// BM25 over the bigrams of their fields, weighted by field, plus a boost
// for each of an article's keywords found whole in the question. A
// question whose best score stays under a threshold gets no article: a
// wrong answer about safety is worse than none.

// Field weights: a bigram in the title or the keywords says more about what
// an article is for than one in its body.
const (
	weightTitle    = 3.0
	weightKeywords = 3.0
	weightSummary  = 1.5
	weightBody     = 0.7

	bm25K1 = 1.2
	bm25B  = 0.75

	// unigramWeight scales single characters against bigrams: 烟, 树 or
	// 跑 carry meaning when the words around them differ ("全是烟" against
	// "楼道有烟"), but much less than a shared bigram.
	unigramWeight = 0.3

	// keywordBoost is added per character of each keyword the question
	// contains whole, so 燃气泄漏 counts for more than 漏气.
	keywordBoost = 1.0
	// minScore is the least score that answers. One informative bigram
	// shared with an article's title or keywords (停车, 孩子, 电话) scores
	// about 5 to 7 and is not enough: questions about parking, school or
	// a phone number would get a safety article. Two such bigrams, or one
	// with its neighbouring characters, reach it. Checked against the test
	// set and a further hand-written set of everyday questions.
	minScore = 9.0
	// minKeywordScore is the least score that answers when the question
	// holds one of the article's keywords whole: "地震" or "CPR" alone is
	// a clear question, with little text to score.
	minKeywordScore = 5.0
)

// stopGrams are bigrams of how residents ask rather than what about
// (怎么办, 要注意什么, 能不能, 有没有): they are in every kind of question and
// in many titles, and would pull questions toward articles whose titles ask
// the same way.
var stopGrams = map[string]bool{}

func init() {
	for _, w := range []string{
		"怎么办", "怎么样", "怎样", "如何", "什么", "为什么", "注意什么", "要注意", "是不是", "能不能", "可不可以",
		"要不要", "有没有", "可以", "应该", "还是", "哪里", "哪个", "一下", "的时候", "时候", "吗", "呢", "了吧",
		"我们", "我家", "你们", "这个", "那个", "一个", "有人", "需要", "请问", "知道", "告诉", "该怎",
	} {
		rs := []rune(w)
		for i := 0; i+1 < len(rs); i++ {
			stopGrams[string(rs[i:i+2])] = true
		}
	}
}

// stopChars are particles and question words that make no content word
// with their neighbours: a bigram with one of them (了怎 of 触电了怎么办,
// 有什 of 附近有什么) would match questions that merely ask the same way.
var stopChars = map[rune]bool{}

func init() {
	for _, r := range "的了吗呢吧啊呀嘛哦么怎什哪咋啥是" {
		stopChars[r] = true
	}
}

// Match is an article found for a question.
type Match struct {
	Article content.Article
	Score   float64
	Keyword string // the longest of the article's keywords the question contains whole
}

// knowledgeIndex is the articles of one content version, prepared for
// matching.
type knowledgeIndex struct {
	articles []content.Article
	tf       []map[string]float64 // per article: weighted bigram counts
	length   []float64            // weighted number of bigrams
	avgLen   float64
	idf      map[string]float64
	keywords [][]string // normalised
}

func newKnowledgeIndex(articles []content.Article) *knowledgeIndex {
	ix := &knowledgeIndex{articles: articles, idf: map[string]float64{}}
	df := map[string]int{}
	for _, a := range articles {
		tf := map[string]float64{}
		add := func(text string, w float64) {
			for _, g := range grams(text) {
				tf[g] += w
			}
		}
		add(a.Title, weightTitle)
		var kws []string
		for _, k := range a.Keywords {
			add(k, weightKeywords) // one keyword at a time: no bigram across two
			kws = append(kws, squash(k))
		}
		add(a.Summary, weightSummary)
		add(a.Body, weightBody)
		n := 0.0
		for g, c := range tf {
			n += c
			df[g]++
		}
		ix.tf = append(ix.tf, tf)
		ix.length = append(ix.length, n)
		ix.avgLen += n
		ix.keywords = append(ix.keywords, kws)
	}
	if len(articles) > 0 {
		ix.avgLen /= float64(len(articles))
	}
	N := float64(len(articles))
	for g, n := range df {
		ix.idf[g] = math.Log(1 + (N-float64(n)+0.5)/(float64(n)+0.5))
	}
	return ix
}

// Search ranks the articles for a question, best first, with their scores.
func (ix *knowledgeIndex) Search(question string) []Match {
	q := squash(question)
	seen := map[string]bool{}
	var qgrams []string
	for _, g := range grams(question) {
		if !seen[g] {
			seen[g] = true
			qgrams = append(qgrams, g)
		}
	}
	out := make([]Match, 0, len(ix.articles))
	for i, a := range ix.articles {
		score := 0.0
		norm := bm25K1 * (1 - bm25B + bm25B*ix.length[i]/ix.avgLen)
		for _, g := range qgrams {
			if tf := ix.tf[i][g]; tf > 0 {
				w := termWeight(g)
				score += w * ix.idf[g] * tf * (bm25K1 + 1) / (tf + norm)
			}
		}
		kw := ""
		for _, k := range ix.keywords[i] {
			if k != "" && strings.Contains(q, k) {
				score += keywordBoost * float64(len([]rune(k)))
				if len([]rune(k)) >= 2 && len(k) > len(kw) {
					kw = k
				}
			}
		}
		m := Match{Article: a, Score: score, Keyword: kw}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out
}

// Best is the best article for a question, or false when none scores
// enough.
func (ix *knowledgeIndex) Best(question string) (Match, bool) {
	ms := ix.Search(question)
	if len(ms) == 0 || ms[0].Score < minScore && (ms[0].Keyword == "" || ms[0].Score < minKeywordScore) {
		return Match{}, false
	}
	return ms[0], true
}

// squash keeps the letters and digits of s, lower-case and half-width.
func squash(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = halfWidth(r)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func halfWidth(r rune) rune {
	if r >= '！' && r <= '～' {
		return r - 0xFEE0
	}
	return r
}

// termWeight is 1 for a bigram or a Latin word, less for a lone character.
func termWeight(g string) float64 {
	if len([]rune(g)) == 1 && g[0] >= unicode.MaxASCII {
		return unigramWeight
	}
	return 1
}

// grams cuts text into the terms matching works on: the characters and
// bigrams of each run of Chinese characters, without the bigrams of how a
// question is asked, and whole runs of Latin letters and digits.
func grams(text string) []string {
	var out []string
	var han, latin []rune
	flush := func() {
		for i, r := range han {
			if stopChars[r] {
				continue
			}
			out = append(out, string(r))
			if i+1 < len(han) && !stopChars[han[i+1]] && !stopGrams[string(han[i:i+2])] {
				out = append(out, string(han[i:i+2]))
			}
		}
		if len(latin) > 0 {
			out = append(out, string(latin))
		}
		han, latin = han[:0], latin[:0]
	}
	for _, r := range text {
		r = unicode.ToLower(halfWidth(r))
		switch {
		case unicode.Is(unicode.Han, r):
			if len(latin) > 0 {
				flush()
			}
			han = append(han, r)
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if len(han) > 0 {
				flush()
			}
			latin = append(latin, r)
		default:
			flush()
		}
	}
	flush()
	return out
}

// knowledgeIndexes builds an index once per content version: content is
// replaced as a whole on reload, so its pointer identifies the version.
type knowledgeIndexes struct {
	mu   sync.Mutex
	from *content.Content
	ix   *knowledgeIndex
}

func (k *knowledgeIndexes) of(c *content.Content) *knowledgeIndex {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.from != c || k.ix == nil {
		k.from, k.ix = c, newKnowledgeIndex(c.Knowledge)
	}
	return k.ix
}
