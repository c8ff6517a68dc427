"""Secrets on the test bed: the join password and root's SSH keys.

Runs as root. One 3-node bed (prefix `sec`, subnet 10.93.2), removed in a
finalizer also when a test fails. Node 1 creates cluster 'sec'; node 2
joins through the API with the module; then the role (API join, password
and fingerprint as variables) joins node 3 and converges.

    scripts/build && pytest tests/e2e/test_secrets.py
"""

import os
import subprocess
import threading

import pytest

from bed import ROOT, TB, bed_fixture

PREFIX, NET = "sec", "10.93.2"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")

# Every process's command line in every node, one per line.
SCAN = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"


class CmdlineScanner:
    """Reads every node's process command lines again and again while a run
    goes on; collects any line that holds the secret and counts the scans
    that saw `pvecm add` running (proof that the scan covered the join)."""

    def __init__(self, bed, secret, nodes=(1, 2, 3)):
        self.bed, self.secret, self.nodes = bed, secret, nodes
        self.leaks, self.saw_pvecm_add, self.scans = [], 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def loop(self):
        while not self.stop.is_set():
            for k in self.nodes:
                out = self.bed.sh(k, SCAN, check=False).stdout
                self.scans += 1
                self.leaks += [l for l in out.splitlines() if self.secret in l]
                self.saw_pvecm_add += "pvecm add" in out
        # the controller's own processes (ansible, ssh) too
        self.leaks += [l for l in self.controller() if self.secret in l]

    def controller(self):
        lines = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    lines.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    pass
        return lines

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_01_module_api_join_password_nowhere(bed):
    # Reproduces: an API join with the root password, watched by anyone on
    # the nodes (ps) and by whoever reads the job's log at -vvv. The
    # password must not be on any command line while the join runs, nor in
    # the module's JSON, nor in ansible's -vvv output. A first run with a
    # wrong fingerprint fails: its message must not carry the password
    # either.
    password = bed.password()
    r = bed.module(1, "pve_cluster_join", {"cluster_name": "sec", "timeout": 60})
    assert r["changed"] is True, r
    args = {"cluster_name": "sec", "peer": bed.ip(1), "use_ssh": False, "password": password,
            "fingerprint": bed.fingerprint(1), "timeout": 120}

    bad = dict(args, fingerprint=bed.fingerprint(3))
    r = bed.module(2, "pve_cluster_join", bad, "-vvv")
    assert r["failed"] is True and r["changed"] is False, r
    assert "fingerprint" in r["msg"], r["msg"]
    assert password not in r["_out"], "password in the failed run's -vvv output"
    assert password not in repr({k: v for k, v in r.items() if k != "_out"})

    with CmdlineScanner(bed, password, nodes=(1, 2)) as scan:
        r = bed.module(2, "pve_cluster_join", args, "-vvv")
    assert r.get("failed") is not True, r
    assert r["changed"] is True, r
    assert scan.saw_pvecm_add, "the scan never saw pvecm add running"
    assert not scan.leaks, scan.leaks
    assert password not in r["_out"], "password in -vvv output"
    assert password not in repr({k: v for k, v in r.items() if k != "_out"}), "password in the result"
    # the module shows what it sent, masked
    assert r.get("stdin") in (None, "********"), r.get("stdin")


def test_02_role_api_join_password_nowhere(bed):
    # Reproduces: the role run with pve_cluster_join_use_ssh=false and the
    # password in a vars file (as from a vault), at -vvv, joining node 3;
    # no fingerprint given: the role reads the first node's.
    # The password must not appear on any command line in the nodes or on
    # the controller, nor in the output. The module's `password` option is
    # no_log and the module masks its own output; this checks both.
    password = bed.password()
    vars_file = bed.workdir / "join-vars.yml"
    vars_file.write_text(f"pve_cluster_join_password: {password!r}\n")
    cmd = bed.role_cmd("sec", "-e", "pve_cluster_join_use_ssh=false", "-e", f"@{vars_file}", "-vvv")
    with CmdlineScanner(bed, password) as scan:
        r = subprocess.run(cmd, env=bed.aenv, capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert f"changed: [{bed.node(1)} -> {bed.node(3)}(" in r.stdout, r.stdout[-3000:]
    assert scan.saw_pvecm_add, "the scan never saw pvecm add running"
    assert not scan.leaks, scan.leaks
    assert password not in r.stdout + r.stderr, "password in the role's -vvv output"


def test_03_private_keys_private_and_authorized_keys_only_cluster_nodes(bed):
    # Reproduces: a review of a converged cluster's nodes. Root's private
    # keys must be readable by root only, and authorized_keys must hold
    # the cluster nodes' own root keys and the bed's controller key, and
    # nothing else the role (or the join) added.
    r = bed.role("sec")
    assert r.returncode == 0, r.stdout[-4000:]
    pubs = set()
    for k in (1, 2, 3):
        for line in bed.sh(k, "cat /root/.ssh/id_*.pub").stdout.splitlines():
            pubs.add(" ".join(line.split()[:2]))
    controller = set()
    for line in bed.sh(1, "cat /etc/ssh/tb_controller_keys").stdout.splitlines():
        if line.strip():
            controller.add(" ".join(line.split()[:2]))
    assert controller and not controller & pubs
    for k in (1, 2, 3):
        modes = bed.sh(k, "stat -L -c '%a %U %n' $(ls /root/.ssh/id_* | grep -v '\\.pub$')").stdout.split("\n")
        for line in filter(None, modes):
            mode, owner, path = line.split()
            assert int(mode, 8) & 0o077 == 0, f"{bed.node(k)}: {path} has mode {mode}"
            assert owner == "root", line
        keys = [" ".join(l.split()[:2]) for l in bed.sh(k, "cat /root/.ssh/authorized_keys").stdout.splitlines()
                if l.strip() and not l.startswith("#")]
        extra = set(keys) - pubs - controller
        assert not extra, f"{bed.node(k)}: authorized_keys has keys of no cluster node: {extra}"
        # every other node's key is there
        mine = {" ".join(l.split()[:2]) for l in bed.sh(k, "cat /root/.ssh/id_*.pub").stdout.splitlines()}
        assert pubs - mine <= set(keys), f"{bed.node(k)}: missing node keys"
