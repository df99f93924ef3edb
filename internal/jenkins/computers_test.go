package jenkins_test

import (
	"reflect"
	"testing"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/jenkinssim"
)

func TestAgents(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Agents: 2})
	if err := f.sim.SetAgentOffline("agent-2", true); err != nil {
		t.Fatal(err)
	}
	nodes, _, err := f.client.Agents(f.ctx)
	want := []jenkins.Node{
		{Name: "Built-In Node", Class: "hudson.model.Hudson$MasterComputer"},
		{Name: "agent-1", Class: "hudson.slaves.SlaveComputer"},
		{Name: "agent-2", Class: "hudson.slaves.SlaveComputer", Offline: true},
	}
	if err != nil || len(nodes) != len(want) {
		t.Fatalf("agents: %+v %v", nodes, err)
	}
	for i := range want {
		if nodes[i] != want[i] || nodes[i].BuiltIn() != (i == 0) {
			t.Errorf("node %d: %+v, want %+v", i, nodes[i], want[i])
		}
	}
}

func TestRunning(t *testing.T) {
	t.Parallel()
	f := setup(t, jenkinssim.Config{Jobs: []jenkinssim.JobSpec{slow, {Name: "team", Type: "folder"},
		{Name: "team/pipe", Type: "pipeline", DurationMs: 3_600_000}}})
	running, _, err := f.client.Running(f.ctx)
	if err != nil || len(running) != 0 {
		t.Errorf("nothing running: %v %v", running, err)
	}
	a, _ := f.client.Trigger(f.ctx, "slow", nil, false)
	b, _ := f.client.Trigger(f.ctx, "team/pipe", nil, false)
	na, nb := builtBy(t, f, a.ID), builtBy(t, f, b.ID)
	running, _, err = f.client.Running(f.ctx)
	want := map[string]map[int64]jenkins.Build{
		"slow":      {na: {Number: na, QueueID: a.ID, Building: true, Params: []jenkins.Param{}, Causes: []string{}}},
		"team/pipe": {nb: {Number: nb, QueueID: b.ID, Building: true, Params: []jenkins.Param{}, Causes: []string{}}},
	}
	if err != nil || !reflect.DeepEqual(running, want) {
		t.Errorf("running (executors and one-off executors): %+v %v", running, err)
	}
}
