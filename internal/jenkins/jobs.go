package jenkins

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// This file holds the calls about jobs: the catalogue and job definitions
// (jenkins-api.md §6).

// Inventory is every job of a controller, by full name ("folder/job").
// Folders are walked, not listed.
type Inventory map[string]Job

// Job is what the inventory knows of one job.
type Job struct {
	Class     string // Jenkins' _class, e.g. hudson.model.FreeStyleProject
	Buildable bool   // not disabled
	Next      int64  // nextBuildNumber when read
	Params    []ParamDef
}

// ParamDef is one parameter definition of a job.
type ParamDef struct {
	Name string
	// Class is the _class of its default value, e.g.
	// hudson.model.BooleanParameterValue; StringParameterValue when Jenkins
	// does not say.
	Class string
	// Default is the default value as text (see Param); HasDefault is
	// false when the definition has none.
	Default    string
	HasDefault bool
}

// InventoryDepth is how deep folders are read by Jobs.
const InventoryDepth = 6

// ListDepth is how deep folders are read by JobNames, as python-jenkins
// does.
const ListDepth = 10

// nestedTree repeats fields under jobs[…] depth times: one request reads
// every folder down to depth.
func nestedTree(fields string, depth int) string {
	t := fields
	for range depth - 1 {
		t = fields + ",jobs[" + t + "]"
	}
	return "jobs[" + t + "]"
}

var inventoryTree = nestedTree("name,buildable,nextBuildNumber,property[parameterDefinitions[name,defaultParameterValue[_class,value]]]", InventoryDepth)

// apiJob is a job or folder as api/json writes it.
type apiJob struct {
	Class           string    `json:"_class"`
	Name            string    `json:"name"`
	Buildable       *bool     `json:"buildable"`
	NextBuildNumber int64     `json:"nextBuildNumber"`
	Jobs            *[]apiJob `json:"jobs"` // present on folders only
	Property        []struct {
		ParameterDefinitions []struct {
			Name    string `json:"name"`
			Default *struct {
				Class string `json:"_class"`
				Value any    `json:"value"`
			} `json:"defaultParameterValue"`
		} `json:"parameterDefinitions"`
	} `json:"property"`
}

func (j apiJob) job() Job {
	m := Job{Class: j.Class, Buildable: *j.Buildable, Next: j.NextBuildNumber}
	for _, p := range j.Property {
		for _, d := range p.ParameterDefinitions {
			def := ParamDef{Name: d.Name, Class: "hudson.model.StringParameterValue"}
			if d.Default != nil {
				if d.Default.Class != "" {
					def.Class = d.Default.Class
				}
				if d.Default.Value != nil {
					def.Default, def.HasDefault = valueString(d.Default.Value), true
				}
			}
			m.Params = append(m.Params, def)
		}
	}
	return m
}

// walkJobs calls visit for every item below jobs, depth first, with its
// full name.
func walkJobs(prefix string, jobs []apiJob, visit func(full string, j apiJob)) {
	for _, j := range jobs {
		full := prefix + j.Name
		visit(full, j)
		if j.Jobs != nil {
			walkJobs(full+"/", *j.Jobs, visit)
		}
	}
}

// Jobs reads every job of the controller, in folders down to
// InventoryDepth, in one request. Items that are neither a folder nor a
// buildable job (no buildable field) are left out.
func (c *Client) Jobs(ctx context.Context) (Inventory, *Response, error) {
	var root struct {
		Jobs []apiJob `json:"jobs"`
	}
	r, err := c.GetJSON(ctx, withTree("", inventoryTree), &root)
	if err != nil {
		return nil, r, err
	}
	inv := Inventory{}
	walkJobs("", root.Jobs, func(full string, j apiJob) {
		if j.Jobs == nil && j.Buildable != nil {
			inv[full] = j.job()
		}
	})
	return inv, r, nil
}

var listTree = nestedTree("name", ListDepth)

// JobNames lists the full names of every job and folder of the
// controller, in folders down to ListDepth, in one request.
func (c *Client) JobNames(ctx context.Context) ([]string, error) {
	var root struct {
		Jobs []apiJob `json:"jobs"`
	}
	if _, err := c.GetJSON(ctx, withTree("", listTree), &root); err != nil {
		return nil, err
	}
	var out []string
	walkJobs("", root.Jobs, func(full string, _ apiJob) { out = append(out, full) })
	return out, nil
}

// ConfigXML reads job's config.xml.
func (c *Client) ConfigXML(ctx context.Context, job string) ([]byte, *Response, error) {
	r, body, err := c.Do(ctx, http.MethodGet, JobPath(job)+"config.xml", nil, "")
	if err != nil {
		return nil, r, err
	}
	return body, r, nil
}

// PostConfigXML replaces job's config.xml (200 when done; 404 when there
// is no such job, 500 when Jenkins cannot read the XML).
func (c *Client) PostConfigXML(ctx context.Context, job string, xml []byte) (*Response, error) {
	return c.postXML(ctx, JobPath(job)+"config.xml", xml)
}

// CreateItem creates the item name in folder ("" for the root) from a
// config.xml (200 when done; 400 "A job already exists with the name …"
// when it exists, 404 when the folder does not).
func (c *Client) CreateItem(ctx context.Context, folder, name string, xml []byte) (*Response, error) {
	p := "createItem?name=" + url.QueryEscape(name)
	if strings.Trim(folder, "/") != "" {
		p = JobPath(folder) + p
	}
	return c.postXML(ctx, p, xml)
}

// AlreadyExists reports CreateItem's refusal of an existing name (400 "A
// job already exists with the name ‘X’").
func AlreadyExists(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusBadRequest && strings.Contains(se.Message, "already exists")
}

func (c *Client) postXML(ctx context.Context, p string, xml []byte) (*Response, error) {
	r, _, err := c.Do(ctx, http.MethodPost, p, bytes.NewReader(xml), "application/xml")
	return r, err
}

// Delete deletes job or folder (POST doDelete: 302 when done).
func (c *Client) Delete(ctx context.Context, job string) (*Response, error) {
	return c.post(ctx, JobPath(job)+"doDelete")
}
