#!/usr/bin/python3
"""Drive jenkinds' front door, in front of several controllers, with
python-jenkins 1.4.0, as one would drive one Jenkins.

Usage: pyjenkins_fleet.py SCENARIO URL USER   (API token in $JENKINS_TOKEN)

Run it with Debian's /usr/bin/python3: python-jenkins 1.4.0 breaks under
urllib3 2.x. Each scenario records what the client observed (return values,
or the exception class and message of calls that fail because of a known
client bug against real Jenkins) in a dict printed as JSON on stdout; the
calling Go test judges it, and checks against the controllers and the admin
API where the builds really ran. An unexpected exception or a wait that
times out exits 1, with the traceback under "fatal" in the JSON.
"""

import json
import os
import sys
import traceback

import jenkins
from jkhelpers import attempt, build_params, last_line, wait_build, wait_executable, wait_for


# The builds of scenario "builds": each is scripted (SIM_RESULT, 10 ms) and
# tagged with its own VERSION, so that no two are identical (identical
# waiting triggers coalesce, as on Jenkins) and each build can be told
# from the others by its parameters.
BURST = ["FAILURE", "SUCCESS", "UNSTABLE", "FAILURE"]


def number_of(ref):
    return ref["number"] if ref else None


def job_summary(info):
    """What a job's JSON says of its builds."""
    return {
        "builds": [b["number"] for b in info["builds"]],
        "build_urls": [b["url"] for b in info["builds"]],
        "firstBuild": number_of(info.get("firstBuild")),
        "lastBuild": number_of(info.get("lastBuild")),
        "lastCompletedBuild": number_of(info.get("lastCompletedBuild")),
        "lastFailedBuild": number_of(info.get("lastFailedBuild")),
        "lastSuccessfulBuild": number_of(info.get("lastSuccessfulBuild")),
        "lastUnstableBuild": number_of(info.get("lastUnstableBuild")),
        "nextBuildNumber": info.get("nextBuildNumber"),
        "inQueue": info.get("inQueue"),
        "queueItem": info.get("queueItem") and info["queueItem"].get("id"),
        "color": info.get("color"),
        "name": info.get("name"),
        "url": info.get("url"),
    }


def scenario_builds(server, out):
    """Version and auth, jobs across controllers, a burst of builds followed
    from queue ids to global numbers, their info and console, stopping a
    long build, the job's aggregated builds, the nodes of every controller."""
    # get_version() does not resolve auth first: anonymous GET / is 403 on
    # Jenkins (§10.1) -> BadHTTPException. A real user calls it after any
    # authenticated call, as below.
    out["version_first_call"] = attempt(server.get_version)
    out["whoami_id"] = server.get_whoami()["id"]
    out["version_after_auth"] = server.get_version()

    out["jobs"] = sorted(j["name"] for j in server.get_jobs())
    out["all_jobs"] = sorted(j["fullname"] for j in server.get_all_jobs())
    out["job_exists"] = {name: bool(server.job_exists(name))
                         for name in ("deploy", "hello", "team-a", "team-a/pipeline", "no-such-job")}
    out["deploy_before"] = job_summary(server.get_job_info("deploy"))

    # A burst: every trigger is answered at once with a queue id; the
    # builds are placed on the controllers while the next ones come in.
    burst = []
    for i, result in enumerate(BURST):
        params = {"SIM_DURATION_MS": "10", "SIM_RESULT": result, "ENV": "production",
                  "VERSION": "1.0.%d" % i, "DRY_RUN": "false"}
        burst.append({"queue_id": server.build_job("deploy", params), "result": result,
                      "version": params["VERSION"]})
    for b in burst:
        item = wait_executable(server, b["queue_id"])
        b["item_class"] = item["_class"]
        b["item_id"] = item["id"]
        b["number"] = item["executable"]["number"]
        b["executable_url"] = item["executable"]["url"]
    for b in burst:
        info = wait_build(server, "deploy", b["number"], building=False)
        console = server.get_build_console_output("deploy", b["number"])
        b["info"] = {k: info.get(k) for k in ("_class", "number", "id", "url", "queueId", "result",
                                              "building", "displayName", "fullDisplayName")}
        b["params"] = build_params(info)
        b["console_last_line"] = last_line(console)
        b["console_has_finished"] = ("Finished: " + b["result"]) in console
    out["burst"] = burst

    # A long build, stopped while it runs.
    queue_id = server.build_job("deploy", {"SIM_DURATION_MS": "60000", "VERSION": "stop-me"})
    number = wait_executable(server, queue_id)["executable"]["number"]
    running = wait_build(server, "deploy", number, building=True)
    server.stop_build("deploy", number)
    info = wait_build(server, "deploy", number, building=False)
    out["stopped"] = {"queue_id": queue_id, "number": number,
                      "running_result": running["result"], "result": info["result"],
                      "console_last_line": last_line(server.get_build_console_output("deploy", number))}

    # A build's JSON comes live from its controller; the job's builds,
    # permalinks and color from jenkinds' record, which learns of the end
    # of a build in its next follow round. Wait for that round.
    def job_caught_up():
        info = server.get_job_info("deploy")
        done = number_of(info.get("lastCompletedBuild")) == number and not info["color"].endswith("_anime")
        return info if done else None
    out["deploy_after"] = job_summary(wait_for("deploy's JSON to show #%d over" % number, job_caught_up))
    out["deploy_after_fetch_all"] = [b["number"] for b in
                                     server.get_job_info("deploy", fetch_all_builds=True)["builds"]]
    out["deploy_all_builds"] = [b["number"] for b in
                                server.get_info("job/deploy", "?tree=allBuilds[number,url]")["allBuilds"]]
    out["deploy_color_in_jobs"] = [j["color"] for j in server.get_jobs() if j["name"] == "deploy"]
    out["nodes"] = server.get_nodes()


def scenario_queue(server, out):
    """A delayed trigger waits in the front door's queue; a duplicate of it
    is answered 303; cancel_queue cancels it."""
    server.get_whoami()
    parameters = {"SIM_DURATION_MS": "10", "VERSION": "9.9.9", "delay": "60sec"}
    queue_id = server.build_job("deploy", dict(parameters))
    item = server.get_queue_item(queue_id)
    out["queue_id"] = queue_id
    out["delayed_item"] = {"class": item["_class"], "id": item["id"], "why": item["why"],
                           "params": item["params"], "task": item["task"]["name"],
                           "url": item["url"]}
    out["queue_ids"] = [i["id"] for i in server.get_queue_info()]
    out["deploy_while_queued"] = job_summary(server.get_job_info("deploy"))

    # An identical trigger is answered 303 to /queue/item/N/; requests
    # follows it and the 200 there has no Location (§3.4).
    out["duplicate_trigger"] = attempt(server.build_job, "deploy", dict(parameters))
    out["queue_ids_after_duplicate"] = [i["id"] for i in server.get_queue_info()]

    # 204 without Content-Length -> EmptyResponseException (§4.4); the
    # item is cancelled all the same.
    out["cancel_queue"] = attempt(server.cancel_queue, queue_id)
    item = server.get_queue_item(queue_id)
    out["cancelled_item"] = {"class": item["_class"], "cancelled": item["cancelled"],
                             "executable": item["executable"]}
    out["queue_ids_after_cancel"] = [i["id"] for i in server.get_queue_info()]
    out["deploy_after_cancel"] = job_summary(server.get_job_info("deploy"))
    # An unknown id is answered 404, which cancel_queue swallows.
    out["cancel_unknown"] = attempt(server.cancel_queue, 987654)


def writes_config(description):
    """The job scenario "writes" creates (writes_job.xml beside this
    script), with the given description."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "writes_job.xml")) as f:
        return f.read().replace("DESCRIPTION", description)


def look(server, name):
    """The reads that show a job's writes: the root's job list, job_exists,
    get_job_info and the queue, as python-jenkins makes them."""
    seen = {"listed": name in [j["name"] for j in server.get_jobs()],
            "exists": bool(server.job_exists(name)),
            "queue_ids": [i["id"] for i in server.get_queue_info() if i["task"]["name"] == name]}
    try:
        info = server.get_job_info(name)
    except jenkins.JenkinsException as exc:
        seen["info_error"] = str(exc)
        return seen
    seen.update({"description": info["description"], "inQueue": info["inQueue"],
                 "queueItem": info["queueItem"] and info["queueItem"]["id"],
                 "builds": [b["number"] for b in info["builds"]],
                 "lastBuild": number_of(info.get("lastBuild"))})
    return seen


def scenario_writes(server, out):
    """Read your writes: each write is followed at once, with no wait and
    no retry, by the reads that show it on one Jenkins. The same reads are
    made just before the write, so the front door holds them in memory
    (younger than --fleet-max-staleness) when the write comes."""
    name = "ryw-py-%d" % os.getpid()
    out["job"] = name
    out["whoami_id"] = server.get_whoami()["id"]

    # create_job itself asks job_exists before (404) and after (200) the
    # POST, and raises if the job is not there then.
    out["before_create"] = look(server, name)
    server.create_job(name, writes_config("v1"))
    out["created"] = look(server, name)

    server.reconfig_job(name, writes_config("v2"))
    out["reconfigured"] = look(server, name)
    config = server.get_job_config(name)
    out["reconfigured"]["config_v2"] = "<description>v2</description>" in config
    out["reconfigured"]["config_v1"] = "<description>v1</description>" in config

    # A trigger held in the queue (delay): Jenkins adds the item to its
    # queue before it answers 201 (Queue.schedule2), so the queue and the
    # job's inQueue show it in the next read.
    look(server, name)
    held = server.build_job(name, {"VERSION": "held", "delay": "3600sec"})
    out["held"] = look(server, name)
    out["held"]["queue_id"] = held
    # cancel_queue raises on the 204 without Content-Length (§4.4); the
    # item is cancelled all the same, and gone from the next reads.
    out["cancel"] = attempt(server.cancel_queue, held)
    out["cancelled"] = look(server, name)

    # A trigger that runs at once: on one Jenkins too, an item past its
    # quiet period may start at any moment, even while the job's JSON is
    # written, so each read after the trigger shows it either waiting (in
    # the queue, the job inQueue) or started (#1 among the job's builds or
    # its lastBuild) — never neither — and once a read showed it started,
    # the later ones do too. Its queue item answers either way (a LeftItem
    # is kept 5 minutes, §4.3); it is read first, then the queue, then the
    # job.
    queue_id = server.build_job(name, {"SIM_DURATION_MS": "60000", "VERSION": "long"})
    item = server.get_queue_item(queue_id)
    out["triggered"] = {"queue_id": queue_id, "item_id": item["id"], "item_class": item["_class"],
                        "item_number": number_of(item.get("executable"))}
    out["triggered"].update(look(server, name))
    # Waiting for the build to start is Jenkins' own asynchrony.
    number = wait_executable(server, queue_id)["executable"]["number"]
    out["started"] = {"number": number}

    # stop: Jenkins interrupts the executor and answers 302 at once; the
    # build ends when its thread sees the interrupt, so even on one Jenkins
    # a read right after the stop may still say building (§5.3). What it
    # guarantees is that the build ends soon, ABORTED: wait for that, as a
    # client of Jenkins must.
    server.stop_build(name, number)
    stopped = wait_build(server, name, number, building=False)
    out["stopped"] = {"result": stopped["result"], "building": stopped["building"]}

    # delete_job itself asks job_exists after the POST, and raises if the
    # job is still there then.
    look(server, name)
    server.delete_job(name)
    out["deleted"] = look(server, name)


SCENARIOS = {"builds": scenario_builds, "queue": scenario_queue, "writes": scenario_writes}


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
