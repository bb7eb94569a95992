package open311

import (
	"encoding/xml"
	"net/http"
	"strings"

	"hazardbot/content"
)

// Our services are the hazard categories residents choose from in the chat
// (content/categories.yaml); service_code is the category's id.

type serviceDoc struct {
	Code        string `xml:"service_code" json:"service_code"`
	Name        string `xml:"service_name" json:"service_name"`
	Description string `xml:"description" json:"description"`
	Metadata    bool   `xml:"metadata" json:"metadata"`
	// realtime: the service_request_id comes back at once.
	Type     string `xml:"type" json:"type"`
	Keywords string `xml:"keywords" json:"keywords"`
	Group    string `xml:"group" json:"group"`
}

type servicesDoc struct {
	XMLName  xml.Name     `xml:"services" json:"-"`
	Services []serviceDoc `xml:"service"`
}

func (d servicesDoc) jsonDoc() any { return nonNil(d.Services) }

type valueDoc struct {
	Key  string `xml:"key" json:"key"`
	Name string `xml:"name" json:"name"`
}

type attributeDoc struct {
	Variable            bool       `xml:"variable" json:"variable"`
	Code                string     `xml:"code" json:"code"`
	Datatype            string     `xml:"datatype" json:"datatype"`
	Required            bool       `xml:"required" json:"required"`
	DatatypeDescription string     `xml:"datatype_description" json:"datatype_description"`
	Order               int        `xml:"order" json:"order"`
	Description         string     `xml:"description" json:"description"`
	Values              []valueDoc `xml:"values>value,omitempty" json:"values,omitempty"`
}

type serviceDefinitionDoc struct {
	XMLName    xml.Name       `xml:"service_definition" json:"-"`
	Code       string         `xml:"service_code" json:"service_code"`
	Attributes []attributeDoc `xml:"attributes>attribute" json:"attributes"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Attribute codes and values.
const (
	attrDangerNow = "DANGER_NOW"
	valueYes      = "yes"
	valueNo       = "no"
)

// attributes are the extra questions a category asks. The categories whose
// hazards can turn into an emergency at any moment (gas, landslides,
// chemicals: urgent in categories.yaml) ask whether it is happening now, so
// that a hotline operator's answer reaches the staff first thing.
func attributes(cat content.Category) []attributeDoc {
	if !cat.Urgent {
		return nil
	}
	return []attributeDoc{{
		Variable: true, Code: attrDangerNow, Datatype: "singlevaluelist", Required: true, Order: 1,
		DatatypeDescription: "yes 或 no",
		Description:         "险情是否正在发生（如正闻到燃气味、正在冒烟或起火、正在滑坡落石）？正在发生的请同时拨打 119。",
		Values:              []valueDoc{{Key: valueYes, Name: "是，正在发生"}, {Key: valueNo, Name: "否，是隐患"}},
	}}
}

func serviceOf(cat content.Category) serviceDoc {
	group := "安全隐患"
	if cat.Urgent {
		group = "紧急安全隐患"
	}
	return serviceDoc{Code: cat.ID, Name: cat.Name, Description: cat.Hint, Metadata: len(attributes(cat)) > 0,
		Type: "realtime", Keywords: strings.Join(cat.Aliases, ", "), Group: group}
}

func (a *API) services(_ *http.Request, _ string) (any, error) {
	var doc servicesDoc
	for _, cat := range a.Content().Categories {
		doc.Services = append(doc.Services, serviceOf(cat))
	}
	return doc, nil
}

func (a *API) category(code string) (content.Category, error) {
	if code == "" {
		return content.Category{}, errorf(http.StatusBadRequest, "service_code is required")
	}
	cat, ok := a.Content().CategoryByID(code)
	if !ok {
		return content.Category{}, errorf(http.StatusNotFound, "service_code %q was not found; GET services lists them", code)
	}
	return cat, nil
}

func (a *API) serviceDefinition(_ *http.Request, code string) (any, error) {
	cat, err := a.category(code)
	if err != nil {
		return nil, err
	}
	return serviceDefinitionDoc{Code: cat.ID, Attributes: nonNil(attributes(cat))}, nil
}
