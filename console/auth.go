package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"hazardbot/storage"
)

// BcryptCost is the work factor of new password hashes.
const BcryptCost = 12

// dummyHash is compared against when the username is unknown, so that a
// wrong username takes as long as a wrong password and does not reveal
// which accounts exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user, no such password"), bcrypt.MinCost+6)

// HashPassword checks a new password against the policy and hashes it
// with bcrypt at cost (0 means BcryptCost).
func HashPassword(password, username string, cost int) ([]byte, error) {
	if err := CheckPassword(password, username); err != nil {
		return nil, err
	}
	if cost == 0 {
		cost = BcryptCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return nil, fmt.Errorf("console: hash password: %w", err)
	}
	return h, nil
}

// weakPasswords are the passwords people pick first; none passes.
var weakPasswords = []string{"password", "12345678", "123456789", "1234567890", "qwertyuiop", "admin123", "abc123456",
	"11111111", "88888888", "iloveyou", "woaini1314", "a123456789", "qwe123456", "1q2w3e4r5t"}

// CheckPassword refuses weak passwords: at least 10 characters, letters and
// digits both, not the username, not a well-known password. bcrypt reads
// at most 72 bytes.
func CheckPassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	if n < 10 {
		return errors.New("密码至少需要10个字符")
	}
	if len(password) > 72 {
		return errors.New("密码最多72个字节")
	}
	var letter, digit bool
	for _, r := range password {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	if !letter || !digit {
		return errors.New("密码需要同时包含字母和数字")
	}
	lower := strings.ToLower(password)
	if username != "" && strings.Contains(lower, strings.ToLower(username)) {
		return errors.New("密码不能包含用户名")
	}
	for _, w := range weakPasswords {
		if strings.Contains(lower, w) {
			return errors.New("密码太常见，请换一个")
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// secure reports whether the console is reached over TLS, directly, through
// a proxy that says so, or as configured.
func (c *Console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") ||
		strings.HasPrefix(c.PublicURL, "https://")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
}

// session loads the request's session; false means there is none (or it
// expired, and is now gone).
func (c *Console) session(w http.ResponseWriter, r *request) (bool, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return false, nil
	}
	hash := hashToken(ck.Value)
	sess, st, err := c.Store.Session(r.Context(), hash)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Disabled || r.now.Sub(sess.LastSeen) > IdleTimeout || r.now.Sub(sess.CreatedAt) > MaxSessionAge {
		if err := c.Store.EndSession(r.Context(), hash); err != nil {
			return false, err
		}
		c.setCookie(w, r.Request, sessionCookie, "", -1)
		r.expired = true // the login page says why
		return false, nil
	}
	// One write a minute is enough to keep the idle clock.
	if r.now.Sub(sess.LastSeen) > time.Minute {
		if err := c.Store.TouchSession(r.Context(), hash, r.now); err != nil {
			return false, err
		}
	}
	r.staff, r.csrf, r.tokenHash = st, sess.CSRF, hash
	return true, nil
}

func (c *Console) toLogin(w http.ResponseWriter, r *request) {
	q := url.Values{}
	if r.Method == http.MethodGet && r.URL.Path != "/console/" {
		q.Set("next", r.URL.RequestURI())
	}
	if r.expired {
		q.Set("expired", "1")
	}
	target := "/console/login"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r.Request, target, http.StatusSeeOther)
}

// localNext keeps a post-login redirect inside the console.
func localNext(next string) string {
	if strings.HasPrefix(next, "/console/") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console/"
}

type loginView struct {
	Token, Username, Next, Error, Notice string
}

func (c *Console) loginPage(w http.ResponseWriter, r *request) error {
	if ok, err := c.session(w, r); err != nil {
		return err
	} else if ok {
		http.Redirect(w, r.Request, "/console/", http.StatusSeeOther)
		return nil
	}
	v := loginView{Next: localNext(r.URL.Query().Get("next"))}
	if r.expired || r.URL.Query().Get("expired") != "" {
		v.Notice = "登录已过期，请重新登录。"
	}
	return c.showLogin(w, r, http.StatusOK, v)
}

// showLogin renders the login form with a fresh pre-session CSRF token,
// bound to the browser by a cookie (there is no session to hold it yet).
func (c *Console) showLogin(w http.ResponseWriter, r *request, status int, v loginView) error {
	v.Token = randomToken()
	c.setCookie(w, r.Request, loginCookie, v.Token, 3600)
	c.render(w, r, status, "login", "登录", v)
	return nil
}

func (c *Console) login(w http.ResponseWriter, r *request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.FormValue("csrf"), ck.Value) {
		return errCSRF
	}
	ctx := r.Context()
	username := strings.TrimSpace(r.FormValue("username"))
	password := r.FormValue("password")
	v := loginView{Username: username, Next: localNext(r.FormValue("next"))}
	st, err := c.Store.StaffByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		v.Error = "用户名或密码错误。"
		return c.showLogin(w, r, http.StatusUnauthorized, v)
	}
	if err != nil {
		return err
	}
	audit := func(action, detail string) error {
		return c.Store.AppendAudit(ctx, storage.AuditEntry{At: r.now, Actor: "staff:" + st.Username, Action: action,
			SubjectType: "staff", SubjectID: fmt.Sprint(st.ID), Detail: detail})
	}
	if st.LockedUntil.After(r.now) {
		v.Error = fmt.Sprintf("密码错误次数过多，账号已锁定至 %s。如需提前解锁，请联系系统管理员。", shanghai(st.LockedUntil))
		return c.showLogin(w, r, http.StatusLocked, v)
	}
	if bcrypt.CompareHashAndPassword(st.PasswordHash, []byte(password)) != nil || st.Disabled {
		if st.Disabled {
			v.Error = "用户名或密码错误。"
			return c.showLogin(w, r, http.StatusUnauthorized, v)
		}
		locked, err := c.Store.RecordLoginFailure(ctx, st.ID, r.now, MaxLoginFailure, LockoutFor)
		if err != nil {
			return err
		}
		if err := audit("staff.login_failed", ""); err != nil {
			return err
		}
		if locked {
			if err := audit("staff.locked", fmt.Sprintf("%d wrong passwords in a row", MaxLoginFailure)); err != nil {
				return err
			}
			v.Error = fmt.Sprintf("密码连续错误%d次，账号已锁定%d分钟。", MaxLoginFailure, int(LockoutFor.Minutes()))
			return c.showLogin(w, r, http.StatusLocked, v)
		}
		v.Error = "用户名或密码错误。"
		return c.showLogin(w, r, http.StatusUnauthorized, v)
	}
	if err := c.Store.RecordLogin(ctx, st.ID, r.now); err != nil {
		return err
	}
	token, csrf := randomToken(), randomToken()
	if err := c.Store.CreateSession(ctx, hashToken(token), st.ID, csrf, r.now); err != nil {
		return err
	}
	if err := audit("staff.login", ""); err != nil {
		return err
	}
	c.setCookie(w, r.Request, loginCookie, "", -1)
	c.setCookie(w, r.Request, sessionCookie, token, 0)
	http.Redirect(w, r.Request, v.Next, http.StatusSeeOther)
	return nil
}

func (c *Console) logout(w http.ResponseWriter, r *request) error {
	if err := c.Store.EndSession(r.Context(), r.tokenHash); err != nil {
		return err
	}
	c.setCookie(w, r.Request, sessionCookie, "", -1)
	http.Redirect(w, r.Request, "/console/login", http.StatusSeeOther)
	return nil
}
