package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jenkinds/jenkinds/internal/jenkins"
	"github.com/jenkinds/jenkinds/internal/worker"
)

func init() {
	register(command{name: "worker", summary: "run a build cluster's queue worker: claim jobs and run them", run: runWorker})
}

const workerHelp = `
The queue worker a build cluster's admin runs inside the cluster. It claims
the cluster's jobs from a jenkinds server (long polls, authenticated by a
short-lived JWT it signs with the cluster's private key for every request),
keeps each job's lease while it runs, streams its log, and reports its
result. On SIGTERM it stops claiming, lets the running jobs finish for
--drain-timeout, and releases those that did not to the queue.

Executors:
  shell    runs the job's steps with /bin/sh in a new empty directory with
           a clean environment (PATH, HOME, SD_* and the job's environment)
  jenkins  triggers the job on a Jenkins controller inside the cluster
           (--jenkins-url; the job named by the jenkinds.io/jenkinsJob
           annotation, else the build's job name; the environment as
           parameters), follows it and reports its result

Flags may be set by environment variables (flags win): --server
JENKINDS_SERVER, --cluster JENKINDS_BUILD_CLUSTER, --key JENKINDS_WORKER_KEY,
--kid JENKINDS_WORKER_KID, --jenkins-token-file JENKINDS_JENKINS_TOKEN_FILE.

Examples:
  jenkinds keys generate --out bf1.pem
  jenkinds buildclusters add-key bf1 --public-key-file bf1.pem.pub
  jenkinds worker --server http://jenkinds:7070 --cluster bf1 --key bf1.pem --executor shell
  jenkinds worker --server https://jenkinds.example.com --cluster iOS --key ios.pem \
      --executor jenkins --jenkins-url http://jenkins.ios.internal:8080 \
      --jenkins-user ci --jenkins-token-file /etc/jenkinds/jenkins.token`

func runWorker(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet(env, "worker", "--server URL --cluster NAME --key FILE [flags]", workerHelp)
	str := func(name, def string) string { return firstSet(env.getenv(name), def) }
	server := fs.String("server", str("JENKINDS_SERVER", ""), "the jenkinds server's `URL` (its admin listener)")
	cluster := fs.String("cluster", str("JENKINDS_BUILD_CLUSTER", ""), "the build `cluster` this worker serves")
	keyFile := fs.String("key", str("JENKINDS_WORKER_KEY", ""), "PEM `file` of the cluster's private key")
	kid := fs.String("kid", str("JENKINDS_WORKER_KID", ""), "the `kid` the public key is registered with (default: derived from the key)")
	executor := fs.String("executor", "shell", "how jobs run: shell or jenkins")
	workerID := fs.String("worker-id", "", "this worker's `name` on the jobs it leases (default: host-pid)")
	var cfg worker.Config
	fs.IntVar(&cfg.Parallel, "parallel", 1, "jobs run at once")
	fs.DurationVar(&cfg.Wait, "wait", 30*time.Second, "how long one claim waits for a job (the server caps it)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long running jobs may go on before they are released")
	tokenTTL := fs.Duration("token-ttl", time.Minute, "lifetime of each token (at most 10m)")
	workDir := fs.String("work-dir", "", "where shell jobs get their directories (default: the system's temporary directory)")
	jenkinsURL := fs.String("jenkins-url", "", "jenkins executor: the controller's `URL`")
	jenkinsUser := fs.String("jenkins-user", "", "jenkins executor: the Jenkins `user`")
	jenkinsToken := fs.String("jenkins-token-file", str("JENKINDS_JENKINS_TOKEN_FILE", ""), "jenkins executor: `file` holding the user's API token")
	var lf serveFlags
	fs.StringVar(&lf.logFormat, "log-format", str("JENKINDS_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&lf.logLevel, "log-level", str("JENKINDS_LOG_LEVEL", "info"), "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *server == "" || *cluster == "" || *keyFile == "" {
		return fmt.Errorf("%w: worker: --server, --cluster and --key are required (run 'jenkinds worker -h')", errUsage)
	}
	log, err := lf.logger(env)
	if err != nil {
		return err
	}
	pemBytes, err := os.ReadFile(*keyFile)
	if err != nil {
		return fmt.Errorf("read the cluster's private key: %w", err)
	}
	key, err := worker.ParseKey(pemBytes)
	if err != nil {
		return fmt.Errorf("%s: %w", *keyFile, err)
	}
	exec, err := workerExecutor(*executor, *workDir, *jenkinsURL, *jenkinsUser, *jenkinsToken)
	if err != nil {
		return err
	}
	if *workerID == "" {
		host, _ := os.Hostname()
		*workerID = fmt.Sprintf("%s-%d", firstSet(host, "worker"), os.Getpid())
	}
	client, err := worker.NewClient(worker.ClientConfig{Server: *server, Cluster: *cluster, Key: key, KID: *kid,
		Worker: *workerID, TokenTTL: *tokenTTL})
	if err != nil {
		return fmt.Errorf("%w: worker: %v", errUsage, err)
	}
	log.Info("worker starting", "server", *server, "cluster", *cluster, "worker", *workerID, "executor", *executor,
		"algorithm", key.Algorithm, "parallel", cfg.Parallel)
	err = worker.New(cfg, client, exec, log.With("cluster", *cluster, "worker", *workerID)).Run(ctx)
	if err == nil {
		log.Info("worker stopped")
	}
	return err
}

// workerExecutor builds the executor --executor names.
func workerExecutor(name, workDir, jenkinsURL, user, tokenFile string) (worker.Executor, error) {
	switch name {
	case "shell":
		return worker.Shell{Dir: workDir}, nil
	case "jenkins":
		if jenkinsURL == "" {
			return nil, fmt.Errorf("%w: worker: --executor jenkins needs --jenkins-url", errUsage)
		}
		var token string
		if tokenFile != "" {
			b, err := os.ReadFile(tokenFile)
			if err != nil {
				return nil, fmt.Errorf("read the Jenkins API token: %w", err)
			}
			token = strings.TrimSpace(string(b))
		}
		c, err := jenkins.New(jenkinsURL, user, token, &http.Client{Timeout: time.Minute})
		if err != nil {
			return nil, fmt.Errorf("%w: worker: %v", errUsage, err)
		}
		return &worker.Jenkins{Client: c}, nil
	}
	return nil, fmt.Errorf("%w: worker: --executor %q: want shell or jenkins", errUsage, name)
}
