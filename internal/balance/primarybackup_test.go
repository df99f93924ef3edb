package balance_test

import (
	"testing"

	"github.com/jenkinds/jenkinds/internal/balance"
)

func TestPrimaryBackupPick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cands []balance.Candidate
		want  int64 // -1: none eligible
	}{
		{"nil", nil, -1},
		{"busy primary before idle backups", []balance.Candidate{up(1, 0, 100), primary(up(2, 99, 0)), up(3, 0, 5)}, 2},
		{"unknown primary only when no healthy backup", []balance.Candidate{health(primary(up(1, 0, 10)), balance.Unknown), up(2, 50, 5)}, 2},
		{"unhealthy primary: backup with the higher priority", []balance.Candidate{health(primary(up(1, 0, 10)), balance.Unhealthy), up(2, 10, 5), up(3, 90, 7)}, 3},
		{"draining primary", []balance.Candidate{draining(primary(up(1, 0, 10))), up(2, 0, 5)}, 2},
		{"inactive primary", []balance.Candidate{inactive(primary(up(1, 0, 10))), up(2, 0, 5)}, 2},
		{"full primary", []balance.Candidate{primary(up(1, 100, 10)), up(2, 0, 5)}, 2},
		{"degraded primary loses to healthy backup", []balance.Candidate{health(primary(up(1, 0, 10)), balance.Degraded), up(2, 50, 5)}, 2},
		{"degraded primary beats degraded backup", []balance.Candidate{health(up(2, 0, 50), balance.Degraded), health(primary(up(1, 50, 10)), balance.Degraded)}, 1},
		{"backup priority tie: lower load ratio", []balance.Candidate{up(1, 50, 5), size(up(2, 10, 5), 50), up(3, 30, 5)}, 2},
		{"backup priority and ratio tie: lower ID", []balance.Candidate{up(3, 30, 5), size(up(2, 15, 5), 50), up(9, 30, 5)}, 2},
		{"no primary configured", []balance.Candidate{up(1, 0, 5), up(2, 90, 10)}, 2},
		{"two primaries ranked like backups", []balance.Candidate{primary(up(1, 0, 5)), primary(up(2, 50, 8)), up(3, 0, 100)}, 2},
		{"none eligible", []balance.Candidate{health(primary(up(1, 0, 10)), balance.Unhealthy), up(2, 100, 5)}, -1},
	}
	for _, tt := range tests {
		if got := pickID(t, balance.PrimaryBackup{}, tt.cands); got != tt.want {
			t.Errorf("%s: picked %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPrimaryBackupFailsOverAndReturns(t *testing.T) {
	t.Parallel()
	// The seed's pool: one primary at priority 10, two backups at 5.
	cands := []balance.Candidate{primary(up(1, 40, 10)), up(2, 30, 5), up(3, 20, 5)}
	steps := []struct {
		name    string
		primary balance.Health
		want    int64
	}{
		{"healthy", balance.Healthy, 1},
		{"goes unhealthy", balance.Unhealthy, 3},
		{"still unhealthy", balance.Unhealthy, 3},
		{"not yet checked after restart", balance.Unknown, 3},
		{"healthy again", balance.Healthy, 1},
	}
	var p balance.Policy = balance.PrimaryBackup{}
	for _, s := range steps {
		cands[0].Health = s.primary
		if got := pickID(t, p, cands); got != s.want {
			t.Errorf("primary %s: picked %d, want %d", s.name, got, s.want)
		}
	}
}
