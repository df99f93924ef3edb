package jobsync

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
)

// ServeCreateItem answers POST [/job/F…]/createItem?name=N as Jenkins
// does (200 and an empty body; 302 to the new job with mode=copy), after
// creating the job folder/N on every active controller of cluster (see the
// package documentation for partial failures).
func (s *Service) ServeCreateItem(w http.ResponseWriter, r *http.Request, cluster, folder string) {
	if r.Method != http.MethodPost {
		jenkins.RequirePOST(w)
		return
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		jenkins.Failure(w, http.StatusBadRequest, "Query parameter 'name' is required")
		return
	}
	if err := jenkins.CheckGoodName(name); err != nil {
		jenkins.Failure(w, http.StatusBadRequest, err.Error())
		return
	}
	job := joinName(folder, name)
	var config []byte
	copying := q.Get("mode") == "copy"
	if copying {
		from := strings.Trim(q.Get("from"), "/")
		a := answer{kind: notFound}
		if from != "" {
			a = s.read(r.Context(), cluster, from, r.Header.Get("Authorization"))
			if a.kind == notFound && folder != "" {
				a = s.read(r.Context(), cluster, joinName(folder, from), r.Header.Get("Authorization"))
			}
		}
		switch a.kind {
		case applied:
			config = a.body
		case notFound:
			jenkins.Failure(w, http.StatusBadRequest, "No such job: "+q.Get("from"))
			return
		case unavailable:
			s.unavailable(w, cluster, "read the job to copy: "+a.brief())
			return
		default:
			passThrough(w, a)
			return
		}
	} else {
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			jenkins.Failure(w, http.StatusBadRequest, "No Content-Type header set")
			return
		}
		if !strings.HasPrefix(ct, "application/xml") && !strings.HasPrefix(ct, "text/xml") {
			jenkins.Failure(w, http.StatusBadRequest, "Requires 'mode' parameter, or a config.xml body with Content-Type application/xml")
			return
		}
		var ok bool
		if config, ok = s.readConfigBody(w, r); !ok {
			return
		}
	}
	o := s.write(r.Context(), cluster, job, OpCreate, string(config), r.Header.Get("Authorization"))
	s.answer(w, r, cluster, o, func() {
		if copying {
			w.Header().Set("Location", frontBase(r)+jobPathOf(job))
			w.WriteHeader(http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// ServeConfigXML answers /job/…/config.xml as Jenkins does. GET and HEAD
// read it from one controller (preferring those with no pending write of
// the job, healthy ones first); POST writes it to every active controller
// of cluster and answers 200 and an empty body.
func (s *Service) ServeConfigXML(w http.ResponseWriter, r *http.Request, cluster, job string) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		a := s.read(r.Context(), cluster, job, r.Header.Get("Authorization"))
		switch a.kind {
		case applied:
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodGet {
				w.Write(a.body)
			}
		case notFound:
			jenkins.NotFound(w)
		case unavailable:
			s.unavailable(w, cluster, a.brief())
		default:
			passThrough(w, a)
		}
	case http.MethodPost:
		config, ok := s.readConfigBody(w, r)
		if !ok {
			return
		}
		o := s.write(r.Context(), cluster, job, OpUpdate, string(config), r.Header.Get("Authorization"))
		s.answer(w, r, cluster, o, func() { w.WriteHeader(http.StatusOK) })
	default:
		jenkins.Failure(w, http.StatusBadRequest, "Unsupported method "+r.Method)
	}
}

// ServeDelete answers POST /job/…/doDelete (302 to the parent folder, as
// Jenkins does) and DELETE /job/…/ (204), after deleting the job on every
// active controller of cluster.
func (s *Service) ServeDelete(w http.ResponseWriter, r *http.Request, cluster, job string) {
	if r.Method != http.MethodDelete && r.Method != http.MethodPost {
		jenkins.RequirePOST(w)
		return
	}
	o := s.write(r.Context(), cluster, job, OpDelete, "", r.Header.Get("Authorization"))
	s.answer(w, r, cluster, o, func() {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		parent, _ := splitName(job)
		w.Header().Set("Location", frontBase(r)+jobPathOf(parent))
		w.WriteHeader(http.StatusFound)
	})
}

// answer turns the outcome of a write into the client's answer: ok when
// some controller applied it, the controllers' refusal when they all
// judged and refused it, 503 when none could be asked.
func (s *Service) answer(w http.ResponseWriter, r *http.Request, cluster string, o *outcome, ok func()) {
	w.Header().Set("X-Jenkinds-Sync", o.syncHeader())
	switch {
	case len(o.targets) == 0:
		s.unavailable(w, cluster, "the cluster has no active controller")
	case o.accepted && o.recordErr != nil:
		jenkins.ServerError(w, fmt.Sprintf("jenkinds: the write reached %d of %d controllers, but the retries of the others could not be stored; send it again",
			o.applied(), len(o.targets)))
	case o.accepted:
		ok()
	case o.pass != nil:
		passThrough(w, *o.pass)
	default:
		var reasons []string
		for _, t := range o.targets {
			reasons = append(reasons, t.name+": "+t.a.brief())
		}
		s.unavailable(w, cluster, strings.Join(reasons, "; "))
	}
}

// readConfigBody reads a submitted config.xml and checks that it is one
// well-formed XML document, answering as Jenkins does when it is not
// (400 when it cannot be read, 500 "Unable to read config.xml" when it
// does not parse).
func (s *Service) readConfigBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxConfigBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		jenkins.Failure(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("config.xml is larger than %d bytes: nothing was written", s.cfg.MaxConfigBytes))
		return nil, false
	case err != nil:
		jenkins.Failure(w, http.StatusBadRequest, "read config.xml: "+err.Error())
		return nil, false
	}
	if err := checkXML(body); err != nil {
		jenkins.ServerError(w, "java.io.IOException: Unable to read config.xml: "+err.Error())
		return nil, false
	}
	return body, true
}

// checkXML accepts one well-formed XML document with one root element.
// The declaration is dropped first: Jenkins writes version 1.1, which
// encoding/xml refuses.
func checkXML(doc []byte) error {
	body := declRE.ReplaceAll(bytes.TrimPrefix(doc, []byte("\ufeff")), nil)
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("Premature end of file.")
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if roots++; roots > 1 {
					return fmt.Errorf("more than one root element (<%s>)", t.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return errors.New("content is not allowed outside the root element")
			}
		}
	}
	if roots == 0 {
		return errors.New("no root element")
	}
	return nil
}

func joinName(folder, name string) string {
	if folder = strings.Trim(folder, "/"); folder == "" {
		return name
	}
	return folder + "/" + name
}

// frontBase is the front door's root URL as the client used it, with a
// trailing slash (Location headers point there, never at a controller).
func frontBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/"
}

// passThrough gives the client a controller's answer: its status,
// X-Error, Content-Type and body.
func passThrough(w http.ResponseWriter, a answer) {
	if a.code == 0 {
		a.code = http.StatusBadGateway
	}
	for _, k := range []string{"X-Error", "Content-Type"} {
		if v := a.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.code)
	w.Write(a.body)
}

// unavailable is the front door's 503 (as package proxy answers it): no
// controller of the cluster could take the request now.
func (s *Service) unavailable(w http.ResponseWriter, cluster, why string) {
	jenkins.ServiceUnavailable(w, fmt.Sprintf("no Jenkins controller of cluster %q can take this request now: %s", cluster, why), 5*time.Second)
}
