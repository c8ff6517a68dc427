# Records, for the benchmark, every task of a playbook run: when it started,
# and for each host when its result arrived, its status and how many module
# runs it took (one per loop item that was not skipped). Written as JSON to
# the file named by BENCH_STATS_FILE when the playbook ends.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_stats
type: aggregate
short_description: per-task timings and counts for bench/run
description: Writes task start times, per-host result times and statuses to $BENCH_STATS_FILE.
"""

# Actions that run on the controller only: no module is sent to the node.
CONTROLLER_ACTIONS = {
    "set_fact", "assert", "debug", "pause", "fail", "meta", "include_tasks", "import_tasks",
    "include_role", "import_role", "include_vars", "add_host", "group_by", "set_stats",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_stats"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.t0 = time.monotonic()
        self.tasks = []
        self.current = None

    def _now(self):
        return time.monotonic() - self.t0

    def v2_playbook_on_task_start(self, task, is_conditional):
        action = task.action.rsplit(".", 1)[-1]
        self.current = {"name": task.get_name(), "action": action,
                        "remote": action not in CONTROLLER_ACTIONS,
                        "start": self._now(), "hosts": {}}
        self.tasks.append(self.current)

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _host(self, result):
        h = result._host.get_name()
        return self.current["hosts"].setdefault(h, {"items": 0, "skipped_items": 0})

    def _done(self, result, status):
        if self.current is None:
            return
        rec = self._host(result)
        rec["end"] = self._now()
        rec["status"] = status
        res = result._result
        if status == "ok" and res.get("changed"):
            rec["status"] = "changed"
        if "results" in res and isinstance(res["results"], list):
            rec["items"] = sum(1 for r in res["results"] if not r.get("skipped"))
            rec["skipped_items"] = sum(1 for r in res["results"] if r.get("skipped"))
        elif status != "skipped":
            rec["items"] = 1

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._done(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("BENCH_STATS_FILE")
        if not path:
            return
        with open(path, "w") as f:
            json.dump({"wall": self._now(), "tasks": self.tasks}, f)
