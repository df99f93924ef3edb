"""Helpers the python-jenkins scenario scripts share (imported through the
PYTHONPATH pyjenkins.Run sets): call-and-record, bounded polling, and
readers of build JSON."""

import time

# WAIT_SECONDS bounds each wait for a queue item or a build.
WAIT_SECONDS = 20.0


def attempt(fn, *args, **kwargs):
    """Call fn and describe the outcome: its value or its exception."""
    try:
        return {"value": fn(*args, **kwargs)}
    except Exception as exc:  # recorded for the Go test to judge
        outcome = {"error": type(exc).__name__, "message": str(exc)}
        # python-jenkins often raises its own exception while handling a
        # requests.HTTPError; the status is on that one.
        for cause in (exc, exc.__context__):
            response = getattr(cause, "response", None)
            if response is not None:
                outcome["status"] = response.status_code
                break
        return outcome


def wait_for(what, fn):
    """Poll fn until it returns something truthy; return that."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (WAIT_SECONDS, what))
        time.sleep(0.02)


def wait_executable(server, queue_id):
    """Poll get_queue_item until the item has started; return the item."""
    def started():
        item = server.get_queue_item(queue_id)
        executable = item.get("executable")
        return item if executable and executable.get("number") else None
    return wait_for("queue item %d to get an executable" % queue_id, started)


def wait_build(server, name, number, building):
    """Poll get_build_info until building has the wanted value."""
    def check():
        info = server.get_build_info(name, number)
        return info if info["building"] == building else None
    state = "running" if building else "finished"
    return wait_for("%s #%d to be %s" % (name, number, state), check)


def last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def build_params(info):
    """NAME -> value of a build's ParametersAction."""
    for action in info.get("actions", []):
        if action.get("_class") == "hudson.model.ParametersAction":
            return {p["name"]: p["value"] for p in action["parameters"]}
    return {}
