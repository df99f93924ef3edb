package jenkins

import (
	"context"
)

// This file holds the calls about computers (nodes) and what their
// executors run (jenkins-api.md §7.1).

// builtInClass is the _class of the controller's built-in node.
const builtInClass = "hudson.model.Hudson$MasterComputer"

// Node is one computer of the controller: the built-in node or an agent.
type Node struct {
	Name    string // displayName: "Built-In Node" for the built-in node
	Class   string // _class: hudson.slaves.SlaveComputer for a permanent agent
	Offline bool
}

// BuiltIn reports the controller's own node, which is no agent.
func (n Node) BuiltIn() bool { return n.Class == builtInClass }

// Agents lists the controller's computers, the built-in node included
// (see Node.BuiltIn).
func (c *Client) Agents(ctx context.Context) ([]Node, *Response, error) {
	var set struct {
		Computer []struct {
			Class       string `json:"_class"`
			DisplayName string `json:"displayName"`
			Offline     bool   `json:"offline"`
		} `json:"computer"`
	}
	r, err := c.GetJSON(ctx, withTree("computer/", "computer[displayName,offline]"), &set)
	if err != nil {
		return nil, r, err
	}
	out := make([]Node, len(set.Computer))
	for i, cp := range set.Computer {
		out[i] = Node{Name: cp.DisplayName, Class: cp.Class, Offline: cp.Offline}
	}
	return out, r, nil
}

// runningTree lists what every executor of every computer runs
// (oneOffExecutors carry Pipeline builds).
const runningTree = "computer[executors[currentExecutable[number,queueId,url]],oneOffExecutors[currentExecutable[number,queueId,url]]]"

// Running reads every build running on the controller, by job full name
// and build number, in one request whatever the number of jobs. The
// builds carry Number, QueueID and Building only.
func (c *Client) Running(ctx context.Context) (map[string]map[int64]Build, *Response, error) {
	type executor struct {
		Current *struct {
			Number  int64  `json:"number"`
			QueueID int64  `json:"queueId"`
			URL     string `json:"url"`
		} `json:"currentExecutable"`
	}
	var set struct {
		Computer []struct {
			Executors []executor `json:"executors"`
			OneOff    []executor `json:"oneOffExecutors"`
		} `json:"computer"`
	}
	r, err := c.GetJSON(ctx, withTree("computer/", runningTree), &set)
	if err != nil {
		return nil, r, err
	}
	out := map[string]map[int64]Build{}
	for _, cp := range set.Computer {
		for _, e := range append(cp.Executors, cp.OneOff...) {
			if e.Current == nil || e.Current.Number == 0 {
				continue
			}
			job := JobFromURL(e.Current.URL)
			if out[job] == nil {
				out[job] = map[int64]Build{}
			}
			out[job][e.Current.Number] = apiBuild{Number: e.Current.Number, QueueID: e.Current.QueueID, Building: true}.build()
		}
	}
	return out, r, nil
}
