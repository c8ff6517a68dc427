"""Checks first, changes later, for the whole group: an operator's mistake on
one node of many stops the run on every node before anything changes, with
a message naming the node and the fix; a join cut off halfway is finished
on a re-run; `timeout` bounds a join; a failed join is charged to its node.

Runs as root. One 3-node bed (prefix `gat`, subnet 10.93.3) for the whole
module, removed in a finalizer also when a test fails. The tests run in
file order: first the refusals, each of which must leave every node as it
was, then a formation with a join cut off.

    scripts/build && pytest tests/e2e/test_group_gate.py
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from bed import ROOT, TB, bed_fixture, recap, wait_for

PREFIX, NET = "gat", "10.93.3"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")

# What a run may change on a node: /etc/hosts, root's SSH files, the
# cluster configuration. Hashes of each, and whether the node is clustered.
SNAPSHOT = r"""
for f in /etc/hosts /root/.ssh/authorized_keys /root/.ssh/known_hosts; do
    printf '%s ' "$f"; (cat "$f" 2>/dev/null || echo absent) | md5sum
done
ls /root/.ssh/ | tr '\n' ' '; echo
ls /etc/pve/corosync.conf /etc/corosync/corosync.conf 2>&1 | sed 's/^ls: //'
"""


def snapshot(b, ks=(1, 2, 3)) -> dict:
    return {k: b.sh(k, SNAPSHOT).stdout for k in ks}


def messages(stdout: str) -> dict:
    """{host: msg} of the failed tasks, as the default callback prints them."""
    out = {}
    for m in re.finditer(r'^fatal: \[([^\]]+)\]: FAILED! => \{.*?"msg": "((?:[^"\\]|\\.)*)"', stdout, re.M):
        out[m.group(1)] = m.group(2)
    return out


def write(workdir: Path, name: str, text: str) -> Path:
    p = workdir / name
    p.write_text(text)
    return p


def run_playbook(b, playbook: Path, inventory: str, *extra: str, timeout=900):
    cmd = [os.path.join(b.bindir, "ansible-playbook"), "-i", inventory, str(playbook), *extra]
    return subprocess.run(cmd, env=b.aenv, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


def assert_stopped_untouched(b, r, before, refused: dict, every=(1, 2, 3)):
    """The run failed on every node of `every`, each refused node with its own
    message (containing the given text), the others with the summary naming
    the refused ones; and no node changed."""
    assert r.returncode != 0, r.stdout[-3000:]
    msgs = messages(r.stdout)
    rc = recap(r.stdout)
    for k in every:
        host = b.node(k)
        assert rc[host]["failed"] == 1 and rc[host]["changed"] == 0, (host, rc)
        if host in refused:
            assert msgs[host].startswith(f"{host} cannot be part of cluster 'lab'"), msgs[host]
            assert refused[host] in msgs[host], (refused[host], msgs[host])
        else:
            assert f"stopped before any change, because {', '.join(sorted(refused))} stopped the run" in msgs[host], msgs
    assert snapshot(b) == before, "a node was changed"


def test_01_a_node_in_another_cluster_stops_every_node_untouched(bed):
    # Reproduces: one node of the group is already a member of another
    # cluster. Before, the others were still rewritten and clustered.
    bed.sh(3, "cd / && pvecm create other >/dev/null 2>&1")
    wait_for(lambda: bed.status(3, "other")["quorate"], 60, "cluster 'other' on node 3")
    before = snapshot(bed)
    r = bed.role("lab")
    assert_stopped_untouched(bed, r, before, {bed.node(3): "is a member of cluster 'other', not 'lab'"})
    assert "take it out of the group 'proxmox'" in messages(r.stdout)[bed.node(3)]
    bed.tb("reinstall", bed.node(3))


def test_02_a_refused_first_host_stops_the_others_at_once(bed):
    # Reproduces: the first host's inventory name is not its hostname. Before,
    # the others trusted that name and waited out their join timeouts on an
    # ssh-copy-id password prompt (about 21 minutes).
    inv = Path(bed.inventory).read_text().replace(f"        {bed.node(1)}:\n", "        first:\n")
    inventory = write(bed.workdir, "inv-first.yml", inv)
    before = snapshot(bed)
    started = time.monotonic()
    r = run_playbook(bed, bed.playbook, str(inventory), "-e", "pve_cluster_name=lab")
    assert time.monotonic() - started < 120, "the run did not stop at the checks"
    assert r.returncode != 0
    msgs = messages(r.stdout)
    assert msgs["first"].startswith("first cannot be part of cluster 'lab'"), msgs
    assert "the node's hostname is 'gat1' and the role would call it 'first'" in msgs["first"]
    assert "because first stopped the run" in msgs[bed.node(2)]
    assert snapshot(bed) == before


def test_03_an_unreachable_node_or_one_missing_from_pve_cluster_nodes_stops_the_run(bed):
    # A fourth host the controller cannot reach (no such address on the bed).
    inv = Path(bed.inventory).read_text().replace(
        "      vars:\n", f"        {PREFIX}9:\n          ansible_host: {NET}.99\n      vars:\n")
    inventory = write(bed.workdir, "inv-unreachable.yml", inv)
    before = snapshot(bed)
    r = run_playbook(bed, bed.playbook, str(inventory), "-e", "pve_cluster_name=lab")
    assert r.returncode != 0
    assert recap(r.stdout)[f"{PREFIX}9"]["unreachable"] == 1
    for k in (1, 2, 3):
        msg = messages(r.stdout)[bed.node(k)]
        assert f"{PREFIX}9 (unreachable, or failed before the checks ended) is missing" in msg, msg
        assert "HostVarsVars" not in msg
    assert snapshot(bed) == before

    # pve_cluster_nodes without an entry for node 3.
    nodes = write(bed.workdir, "nodes.yml", (
        "pve_cluster_nodes:\n"
        f"  - {{name: {bed.node(1)}, ip: {bed.ip(1)}}}\n"
        f"  - {{name: {bed.node(2)}, ip: {bed.ip(2)}}}\n"))
    r = bed.role("lab", "-e", f"@{nodes}")
    assert_stopped_untouched(bed, r, before, {bed.node(3): "pve_cluster_nodes has no entry for gat3"})


def test_04_input_mistakes_are_refused_before_any_change(bed):
    before = snapshot(bed)
    # An API join without a password.
    r = bed.role("lab", "-e", "pve_cluster_join_use_ssh=false")
    assert r.returncode != 0
    for k in (1, 2, 3):
        assert "which needs pve_cluster_join_password" in messages(r.stdout)[bed.node(k)]
    # Two nodes with one address, one node id twice.
    nodes = write(bed.workdir, "dup.yml", (
        "pve_cluster_nodes:\n"
        f"  - {{name: {bed.node(1)}, ip: {bed.ip(1)}, nodeid: 4}}\n"
        f"  - {{name: {bed.node(2)}, ip: {bed.ip(2)}, nodeid: 4}}\n"
        f"  - {{name: {bed.node(3)}, ip: {bed.ip(2)}}}\n"))
    r = bed.role("lab", "-e", f"@{nodes}")
    assert r.returncode != 0
    msg = messages(r.stdout)[bed.node(1)]
    assert f"address '{bed.ip(2)}' in entries [1] and [2]" in msg, msg
    assert "nodeid 4 in entries [0] and [1]" in msg, msg
    # A limit to part of the group.
    r = bed.role("lab", "--limit", f"{bed.node(1)},{bed.node(2)}")
    assert r.returncode != 0
    assert f"{bed.node(3)} (not in this run (--limit" in messages(r.stdout)[bed.node(1)]
    # An API join with a fingerprint that is not the one of the certificate
    # pveproxy serves on the first node (pvecm add would refuse every join).
    pw = write(bed.workdir, "pw.yml", f"pve_cluster_join_password: {bed.password()!r}\n")
    wrong = ":".join(["AB"] * 32)
    r = bed.role("lab", "-e", "pve_cluster_join_use_ssh=false", "-e", f"@{pw}",
                 "-e", f"pve_cluster_join_fingerprint={wrong}")
    assert r.returncode != 0
    msg = messages(r.stdout)[bed.node(1)]
    assert (f"pve_cluster_join_fingerprint is {wrong}, but the API certificate of the first node {bed.node(1)} "
            f"(/etc/pve/nodes/{bed.node(1)}/pve-ssl.pem, the one pveproxy serves) has the fingerprint "
            f"{bed.fingerprint(1)}") in msg, msg
    assert snapshot(bed) == before


def test_05_the_free_strategy_is_refused(bed):
    # run_once does not hold under `strategy: free`: every host would plan
    # and join on its own.
    play = write(bed.workdir, "free.yml", bed.playbook.read_text().replace(
        "  gather_facts: false\n", "  gather_facts: false\n  strategy: free\n"))
    before = snapshot(bed)
    r = run_playbook(bed, play, bed.inventory, "-e", "pve_cluster_name=lab")
    assert r.returncode != 0
    assert "The role needs the linear strategy" in r.stdout, r.stdout[-3000:]
    assert snapshot(bed) == before


def test_06_an_empty_group_fails_the_shipped_playbook(bed):
    inventory = write(bed.workdir, "empty.yml", "all:\n  children:\n    proxmox:\n      hosts: {}\n")
    r = run_playbook(bed, ROOT / "playbooks" / "cluster-init.yml", str(inventory), "-e", "pve_cluster_name=lab")
    assert r.returncode != 0, r.stdout
    assert "The inventory group 'proxmox' has no hosts" in r.stdout, r.stdout


def test_07_a_join_cut_off_fails_in_its_timeout_on_its_node_and_a_rerun_finishes_it(bed):
    # Nodes 1 and 2 form the cluster; node 3's corosync is cut, so its join
    # waits for quorum after the peer added it (PVE's finish_join waits
    # with no timeout of its own).
    for k, peer in ((1, None), (2, bed.ip(1))):
        args = {"cluster_name": "lab", "timeout": 120}
        if peer:
            args.update(peer=peer, use_ssh=False, password=bed.password(), fingerprint=bed.fingerprint(1))
        r = bed.module(k, "pve_cluster_join", args)
        assert not r.get("failed"), r
    bed.tb("cut", bed.node(3))
    started = time.monotonic()
    r = bed.role("lab", "-e", "pve_cluster_join_timeout=40")
    took = time.monotonic() - started
    assert r.returncode != 0
    rc = recap(r.stdout)
    # Charged to the node whose join failed, not to the loop's host.
    assert rc[bed.node(3)]["failed"] == 1, r.stdout[-6000:]
    assert rc[bed.node(1)]["failed"] == 0 and rc[bed.node(2)]["failed"] == 0, r.stdout[-6000:]
    msg = messages(r.stdout)[bed.node(3)]
    assert "did not finish within the timeout of 40 s" in msg, msg
    # The whole join within its timeout: 40 s, not 300 + 40 as before.
    assert took < 200, took

    bed.tb("heal", bed.node(3))
    st = wait_for(lambda: (s := bed.status(3, "lab")).get("quorate") and s, 120, "node 3 quorate")
    # A member that never ran the end of pvecm add: no node files, no link.
    assert st["join_complete"] is False, st
    assert st["healthy"] is True, st
    r = bed.role("lab")
    assert r.returncode == 0, r.stdout[-4000:]
    assert recap(r.stdout)[bed.node(3)]["changed"] >= 1
    assert f"changed: [{bed.node(1)} -> {bed.node(3)}(" in r.stdout, r.stdout[-4000:]
    st = bed.status(3, "lab")
    assert st["join_complete"] is True, st
    link = bed.sh(3, "readlink /root/.ssh/authorized_keys").stdout.strip()
    assert link == "/etc/pve/priv/authorized_keys", link
    assert bed.sh(3, "test -f /etc/pve/nodes/gat3/pve-ssl.pem && test -d /etc/pve/nodes/gat3/openvz").returncode == 0

    r = bed.role("lab")
    assert r.returncode == 0, r.stdout[-4000:]
    assert all(v["changed"] == 0 for v in recap(r.stdout).values()), r.stdout[-3000:]
