"""What the test bed's own tests share: `tb` with a bed's prefix and
subnet, a shell inside a node, a node's address, and a polling wait (CI's
cores are shared: tests poll with generous timeouts, never sleep a fixed
time)."""

import os
import subprocess
import time

import pytest

TB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tb")


def bed_env(prefix: str, net: str) -> dict:
    """The environment of a bed of its own: prefix and subnet, the default
    release, quiet."""
    env = dict(os.environ, TB_PREFIX=prefix, TB_NET=net, TB_QUIET="1")
    env.pop("TB_DIR", None)
    env.pop("TB_RELEASE", None)
    return env


def make_tb(env: dict, default_timeout=180):
    """`tb(*args)` for the bed of `env`; a failure raises with its output
    unless check=False."""

    def tb(*args, check=True, input=None, timeout=default_timeout, env=env):
        r = subprocess.run([TB, *args], env=env, capture_output=True, text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("tb %s failed rc=%d\nstdout:\n%s\nstderr:\n%s"
                                 % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    return tb


def node_ip(net: str, k: int) -> str:
    """Node K's address (testbed/README.md: `$TB_NET.(10+K)`)."""
    return "%s.%d" % (net, 10 + k)


def wait_for(pred, timeout=60, what="condition"):
    """Polls pred until it returns something true; fails after timeout."""
    t0 = time.time()
    while True:
        res = pred()
        if res:
            return res
        if time.time() - t0 > timeout:
            raise AssertionError("timeout after %ds waiting for %s" % (timeout, what))
        time.sleep(0.5)


def bed_fixture(tb, nodes: int, *up_args: str):
    """A module-scoped fixture: a bed of `nodes` nodes (iso hosts), up for
    the module's tests and removed afterwards, also when a test fails."""
    @pytest.fixture(scope="module")
    def bed():
        tb("down", check=False)
        try:
            tb("up", "-n", str(nodes), "--hosts", "iso", *up_args)
            yield
        finally:
            tb("down", check=False)

    return bed
