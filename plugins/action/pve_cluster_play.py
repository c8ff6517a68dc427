# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pve_cluster_play: checks, on the controller, that the play runs its hosts
in step.

The role relies on the linear strategy: a run_once task (the plan, the
corosync settings, the rolling restart) runs once and every host waits at
each task until all hosts are done with it. The free strategies run
run_once tasks on every host and let hosts run ahead, so joins and
configuration changes would overlap. Ansible exposes no variable that names
the play's strategy; the play itself does."""

from ansible.plugins.action import ActionBase

IN_STEP = ("linear", "debug")


def play_of(task):
    node = task
    while node is not None:
        play = getattr(node, "_play", None)
        if play is not None:
            return play
        node = getattr(node, "_parent", None)
    return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        play = play_of(self._task)
        strategy = getattr(play, "strategy", None) or "linear"
        strategy = strategy.rsplit(".", 1)[-1]
        result["strategy"] = strategy
        result["changed"] = False
        if strategy not in IN_STEP:
            result["failed"] = True
            result["msg"] = (
                f"The role needs the linear strategy (the default), and this play uses '{strategy}': with it "
                "each node would plan, join and change corosync on its own, and joins would overlap. Remove "
                "'strategy:' from the play (or set it to linear)."
            )
        else:
            result["msg"] = f"the play runs its hosts in step (strategy {strategy})"
        return result
