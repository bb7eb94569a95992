package console

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"hazardbot"
	"hazardbot/storage"
)

// BindCodeTTL is how long a WeChat bind code works.
const BindCodeTTL = 10 * time.Minute

var usernamePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]{2,31}$`)

// CheckUsername accepts 3-32 lower-case letters, digits, _ . - starting
// with a letter.
func CheckUsername(u string) error {
	if !usernamePattern.MatchString(u) {
		return errors.New("用户名为3-32位小写字母、数字或 _ . -，以字母开头")
	}
	return nil
}

type usersView struct {
	Staff       []storage.Staff
	Roles       []option
	Communities []option
	Error, Done string
	Form        struct{ Username, Name, Role, Community string }
	Now         time.Time
}

func (c *Console) usersView(r *request) (usersView, error) {
	var v usersView
	var err error
	if v.Staff, err = c.Store.ListStaff(r.Context()); err != nil {
		return v, err
	}
	for _, role := range hazardbot.Roles {
		v.Roles = append(v.Roles, option{string(role), role.Name()})
	}
	_, _, v.Communities, _ = c.options(r.actor())
	v.Now = r.now
	return v, nil
}

func (c *Console) users(w http.ResponseWriter, r *request) error {
	v, err := c.usersView(r)
	if err != nil {
		return err
	}
	v.Done = map[string]string{"created": "已创建用户。", "reset": "已重设密码，该用户需用新密码重新登录。", "unlock": "已解除锁定。",
		"disable": "已停用该账号。", "enable": "已启用该账号。", "unbind": "已解除微信绑定。", "update": "已更新角色。"}[r.URL.Query().Get("done")]
	c.render(w, r, http.StatusOK, "users", "用户管理", v)
	return nil
}

// validCommunity reports whether id is a community of the grids file.
func (c *Console) validCommunity(id string) bool {
	if g := c.Content().Grids; g != nil {
		for _, cm := range g.Communities() {
			if cm.ID == id {
				return true
			}
		}
	}
	return false
}

// checkRole validates a role and its community.
func (c *Console) checkRole(role hazardbot.Role, community string) error {
	if !role.Valid() {
		return errors.New("请选择角色")
	}
	if role == hazardbot.RoleCommunity && !c.validCommunity(community) {
		return errors.New("社区工作人员需要选择所属社区")
	}
	return nil
}

func (c *Console) createUser(w http.ResponseWriter, r *request) error {
	v, err := c.usersView(r)
	if err != nil {
		return err
	}
	username := strings.TrimSpace(r.FormValue("username"))
	role := hazardbot.Role(r.FormValue("role"))
	community := r.FormValue("community")
	if role != hazardbot.RoleCommunity {
		community = ""
	}
	v.Form.Username, v.Form.Name, v.Form.Role, v.Form.Community = username, r.FormValue("name"), string(role), community
	fail := func(msg string) error {
		v.Error = msg
		c.render(w, r, http.StatusUnprocessableEntity, "users", "用户管理", v)
		return nil
	}
	if err := CheckUsername(username); err != nil {
		return fail(err.Error())
	}
	if err := c.checkRole(role, community); err != nil {
		return fail(err.Error())
	}
	hash, err := HashPassword(r.FormValue("password"), username, c.PasswordCost)
	if err != nil {
		return fail(err.Error())
	}
	id, err := c.Store.CreateStaff(r.Context(), storage.Staff{Username: username, Name: strings.TrimSpace(r.FormValue("name")),
		PasswordHash: hash, Role: role, CommunityID: community}, r.now)
	if errors.Is(err, storage.ErrExists) {
		return fail("用户名 " + username + " 已被使用")
	}
	if err != nil {
		return err
	}
	if err := c.audit(r, "staff.create", id, fmt.Sprintf("%s as %s %s", username, role, community)); err != nil {
		return err
	}
	http.Redirect(w, r.Request, "/console/users?done=created", http.StatusSeeOther)
	return nil
}

func (c *Console) audit(r *request, action string, staffID int64, detail string) error {
	return c.Store.AppendAudit(r.Context(), storage.AuditEntry{At: r.now, Actor: r.actor().Label(), Action: action,
		SubjectType: "staff", SubjectID: strconv.FormatInt(staffID, 10), Detail: detail})
}

func (c *Console) userOp(w http.ResponseWriter, r *request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	target, err := c.Store.StaffByID(r.Context(), id)
	if err != nil {
		return err
	}
	op := r.PathValue("op")
	if id == r.staff.ID && (op == "disable" || op == "update") {
		return badRequest("不能停用自己的账号或修改自己的角色，请让另一位管理员操作。")
	}
	ctx := r.Context()
	switch op {
	case "reset":
		hash, err := HashPassword(r.FormValue("password"), target.Username, c.PasswordCost)
		if err != nil {
			return badRequest("%s", err.Error())
		}
		err = c.Store.SetStaffPassword(ctx, id, hash)
		if err != nil {
			return err
		}
	case "unlock":
		err = c.Store.UnlockStaff(ctx, id)
	case "disable":
		err = c.Store.SetStaffDisabled(ctx, id, true)
	case "enable":
		err = c.Store.SetStaffDisabled(ctx, id, false)
	case "unbind":
		err = c.Store.UnbindWeChat(ctx, id)
	case "update":
		role, community := hazardbot.Role(r.FormValue("role")), r.FormValue("community")
		if role != hazardbot.RoleCommunity {
			community = ""
		}
		if err := c.checkRole(role, community); err != nil {
			return badRequest("%s", err.Error())
		}
		err = c.Store.UpdateStaff(ctx, id, target.Name, role, community)
		if err == nil {
			err = c.Store.EndStaffSessions(ctx, id) // the new role applies from the next login
		}
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	if err := c.audit(r, "staff."+op, id, target.Username); err != nil {
		return err
	}
	http.Redirect(w, r.Request, "/console/users?done="+op, http.StatusSeeOther)
	return nil
}

type accountView struct {
	Code        string
	CodeExpires string
	Error, Done string
	Community   string
}

func (c *Console) account(w http.ResponseWriter, r *request) error {
	v := accountView{Community: c.communityName(r.staff.CommunityID)}
	if r.URL.Query().Get("done") == "password" {
		v.Done = "密码已修改。"
	}
	c.render(w, r, http.StatusOK, "account", "我的账号", v)
	return nil
}

// bindCode gives the staff member a one-time code to send in the chat.
func (c *Console) bindCode(w http.ResponseWriter, r *request) error {
	var code string
	for range 5 {
		n, err := rand.Int(rand.Reader, big.NewInt(1000000))
		if err != nil {
			return err
		}
		code = fmt.Sprintf("%06d", n.Int64())
		err = c.Store.SetBindCode(r.Context(), r.staff.ID, code, r.now.Add(BindCodeTTL), r.now)
		if errors.Is(err, storage.ErrExists) {
			code = ""
			continue // held by someone else right now: draw again
		}
		if err != nil {
			return err
		}
		break
	}
	if code == "" {
		return errors.New("console: no free bind code after 5 draws")
	}
	v := accountView{Code: code, CodeExpires: shanghai(r.now.Add(BindCodeTTL)), Community: c.communityName(r.staff.CommunityID)}
	c.render(w, r, http.StatusOK, "account", "我的账号", v)
	return nil
}

func (c *Console) changePassword(w http.ResponseWriter, r *request) error {
	v := accountView{Community: c.communityName(r.staff.CommunityID)}
	if bcrypt.CompareHashAndPassword(r.staff.PasswordHash, []byte(r.FormValue("old"))) != nil {
		v.Error = "原密码不正确。"
	} else if r.FormValue("new") != r.FormValue("again") {
		v.Error = "两次输入的新密码不一致。"
	} else if hash, err := HashPassword(r.FormValue("new"), r.staff.Username, c.PasswordCost); err != nil {
		v.Error = err.Error()
	} else {
		if err := c.Store.SetStaffPassword(r.Context(), r.staff.ID, hash); err != nil {
			return err
		}
		if err := c.audit(r, "staff.password", r.staff.ID, ""); err != nil {
			return err
		}
		// SetStaffPassword ended every session, this one too: log in afresh.
		c.setCookie(w, r.Request, sessionCookie, "", -1)
		http.Redirect(w, r.Request, "/console/login", http.StatusSeeOther)
		return nil
	}
	c.render(w, r, http.StatusUnprocessableEntity, "account", "我的账号", v)
	return nil
}
