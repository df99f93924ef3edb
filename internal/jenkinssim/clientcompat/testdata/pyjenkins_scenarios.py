#!/usr/bin/python3
"""Drive a (simulated) Jenkins controller with python-jenkins 1.4.0.

Usage: pyjenkins_scenarios.py SCENARIO URL USER   (API token in $JENKINS_TOKEN)

Run it with Debian's /usr/bin/python3: python-jenkins 1.4.0 breaks under
urllib3 2.x. Each scenario records what the client observed (return values,
or the exception class and message of calls that are expected to fail
because of a known client bug) in a dict that is printed as JSON on stdout.
The calling Go test asserts on it. An unexpected exception or a wait that
times out exits 1, with the traceback under "fatal" in the JSON.
"""

import json
import os
import sys
import traceback

import jenkins
import requests
from jkhelpers import attempt, build_params, last_line, wait_build, wait_executable, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
DESCRIPTION = "Created by a client-compatibility test"
NEW_DESCRIPTION = "Reconfigured by python-jenkins"


def param_defs(job_info):
    """["ShortClass:NAME", ...] of a job's parameter definitions."""
    out = []
    for prop in job_info.get("property", []):
        for d in prop.get("parameterDefinitions", []):
            out.append(d["_class"].replace("hudson.model.", "") + ":" + d["name"])
    return out


def run_build(server, name, parameters, out_key, out):
    """Trigger, wait for the queue item and the build, record the result."""
    queue_id = server.build_job(name, parameters)
    item = wait_executable(server, queue_id)
    number = item["executable"]["number"]
    info = wait_build(server, name, number, building=False)
    console = server.get_build_console_output(name, number)
    out[out_key] = {
        "queue_id_positive": queue_id > 0,
        "queue_item_class": item["_class"],
        "number": number,
        "building": info["building"],
        "result": info["result"],
        "params": build_params(info),
        "console_last_line": last_line(console),
    }


def scenario_jobs(server, out):
    """Version/auth quirks, job CRUD, builds, console, stop, delete."""
    # First call: get_version() does not resolve auth, so it is anonymous
    # and real Jenkins answers 403 -> BadHTTPException (§10.1).
    out["version_first_call"] = attempt(server.get_version)
    out["whoami_id"] = server.get_whoami()["id"]
    out["version_after_auth"] = server.get_version()

    info = server.get_info()
    out["info"] = {"mode": info["mode"], "quietingDown": info["quietingDown"],
                   "useCrumbs": info["useCrumbs"], "jobs": [j["name"] for j in info["jobs"]]}
    out["all_jobs"] = sorted(j["fullname"] for j in server.get_all_jobs())
    out["job_exists"] = {
        "hello": bool(server.job_exists("hello")),
        "team-a/pipeline": bool(server.job_exists("team-a/pipeline")),
        "no-such-job": bool(server.job_exists("no-such-job")),
    }

    name = "py-param"
    with open(os.path.join(HERE, "param-job.xml"), encoding="utf-8") as f:
        config = f.read()
    server.create_job(name, config)
    out["created_exists"] = bool(server.job_exists(name))
    stored = server.get_job_config(name)
    out["config_first_line"] = stored.splitlines()[0]
    out["config_has_sim_result"] = "<name>SIM_RESULT</name>" in stored
    out["created_params"] = param_defs(server.get_job_info(name))
    server.reconfig_job(name, stored.replace(DESCRIPTION, NEW_DESCRIPTION))
    out["description_after_reconfig"] = server.get_job_info(name)["description"]
    out["config_after_reconfig_has_new_description"] = NEW_DESCRIPTION in server.get_job_config(name)

    # Jobs in folders: job/team-a/job/NAME/ paths.
    server.create_job("team-a/py-in-folder", config)
    out["folder_job_exists"] = bool(server.job_exists("team-a/py-in-folder"))
    out["create_in_missing_folder"] = attempt(server.create_job, "no-such-folder/x", config)
    server.delete_job("team-a/py-in-folder")
    out["folder_job_exists_after_delete"] = bool(server.job_exists("team-a/py-in-folder"))
    queue_id = server.build_job("team-a/pipeline")
    item = wait_executable(server, queue_id)
    number = item["executable"]["number"]
    out["pipeline_build"] = {
        "class": item["executable"]["_class"],
        "result": wait_build(server, "team-a/pipeline", number, building=False)["result"],
    }

    run_build(server, "hello", None, "hello_build", out)
    run_build(server, name, {"SIM_RESULT": "FAILURE", "SIM_DURATION_MS": "150", "ENV": "production",
                             "VERSION": "2.0.0", "DRY_RUN": "false"}, "failure_build", out)
    # build_job() without parameters POSTs /build, which a parameterized
    # job answers with 400 "Nothing is submitted" (§3.3), surfacing as a
    # raw requests.HTTPError (§10.1 transport rules).
    out["build_param_job_without_params"] = attempt(server.build_job, name)

    queue_id = server.build_job(name, {"SIM_DURATION_MS": "60000"})
    number = wait_executable(server, queue_id)["executable"]["number"]
    wait_build(server, name, number, building=True)
    # get_running_builds() asks for computer/Built-In%20Node/ (404 on
    # Jenkins >= 2.307) and raises (§10.1).
    out["running_builds"] = attempt(server.get_running_builds)
    server.stop_build(name, number)
    info = wait_build(server, name, number, building=False)
    out["stopped_build"] = {"number": number, "result": info["result"],
                            "console_last_line": last_line(server.get_build_console_output(name, number))}

    server.delete_job(name)
    out["exists_after_delete"] = bool(server.job_exists(name))


def scenario_admin(server, out):
    """Nodes, plugins, quiet down and its cancellation."""
    out["nodes"] = server.get_nodes()
    out["node_info_by_display_name"] = attempt(server.get_node_info, "Built-In Node")
    out["node_info_built_in"] = server.get_node_info("(built-in)")["displayName"]

    plugins = server.get_plugins(depth=2)
    out["plugins"] = sorted(p["shortName"] for p in plugins.values())
    out["plugin_git_version"] = plugins["git"]["version"]
    out["plugin_by_long_name"] = plugins["Git plugin"]["shortName"]

    server.quiet_down()  # itself raises unless get_info() says quietingDown
    out["quieting_down"] = server.get_info()["quietingDown"]
    queue_id = server.build_job("hello")
    item = server.get_queue_item(queue_id)
    out["queued_while_quieting_down"] = {"class": item["_class"], "why": item["why"]}

    server.jenkins_open(requests.Request("POST", server.server + "cancelQuietDown"))
    out["quieting_down_after_cancel"] = server.get_info()["quietingDown"]
    number = wait_executable(server, queue_id)["executable"]["number"]
    out["result_after_cancel"] = wait_build(server, "hello", number, building=False)["result"]


def scenario_queue(server, out):
    """Delayed triggers, the 303 on a duplicate, cancel_queue."""
    parameters = {"SIM_DURATION_MS": "50", "delay": "60sec"}
    queue_id = server.build_job("deploy", dict(parameters))
    item = server.get_queue_item(queue_id)
    out["delayed_item"] = {"class": item["_class"], "why": item["why"], "params": item["params"]}
    out["queue_ids"] = [i["id"] for i in server.get_queue_info()]
    out["queue_id"] = queue_id

    # An identical trigger is answered 303 to /queue/item/N/; requests
    # follows it and the 200 there has no Location (§3.4).
    out["duplicate_trigger"] = attempt(server.build_job, "deploy", dict(parameters))
    out["queue_ids_after_duplicate"] = [i["id"] for i in server.get_queue_info()]

    # 204 without Content-Length -> EmptyResponseException (§4.4).
    out["cancel_queue"] = attempt(server.cancel_queue, queue_id)
    item = server.get_queue_item(queue_id)
    out["cancelled_item"] = {"class": item["_class"], "cancelled": item["cancelled"],
                             "executable": item["executable"]}
    out["queue_ids_after_cancel"] = [i["id"] for i in server.get_queue_info()]
    # An unknown id is answered 404, which cancel_queue swallows.
    out["cancel_unknown"] = attempt(server.cancel_queue, 987654)


SCENARIOS = {"jobs": scenario_jobs, "admin": scenario_admin, "queue": scenario_queue}


def main(argv):
    if len(argv) != 4 or argv[1] not in SCENARIOS:
        sys.stderr.write("usage: %s {%s} URL USER  (token in $JENKINS_TOKEN)\n"
                         % (argv[0], "|".join(sorted(SCENARIOS))))
        return 2
    scenario, url, user = argv[1:]
    token = os.environ.get("JENKINS_TOKEN")
    if not token:
        sys.stderr.write("JENKINS_TOKEN is not set\n")
        return 2
    out = {"python_jenkins_file": jenkins.__file__}
    server = jenkins.Jenkins(url, username=user, password=token, timeout=10)
    code = 0
    try:
        SCENARIOS[scenario](server, out)
    except Exception:
        out["fatal"] = traceback.format_exc()
        code = 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
