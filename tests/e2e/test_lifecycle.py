"""The rest of a cluster's life on the test bed: a node is removed as
Proxmox VE documents it ("Remove a Cluster Node", pve-docs pvecm.adoc):
refused while it is online or holds guests, then, powered off, removed
with `pvecm delnode`, and judged by the nodelist, config_version and the
votes the real corosync expects afterwards; a second run is `ok`; the
role still converges on the smaller cluster; playbooks/cluster-remove-node.yml
does all of it as an operator runs it; a removal that would leave the
cluster without quorum (two nodes down, `pvecm expected 1` on the third) is
refused. Then, of the three that remain, a
node is separated without reinstalling it ("Separate a Node Without
Reinstalling"): refused while it is offline, shown in check mode, then
separated with its guest's file kept, the two others quorate expecting two
votes, and the separated node creates a cluster of its own. Last, the two
members get a QDevice (a real corosync-qnetd on the bed's QNetd host), and
two fresh nodes join them as the documentation says ("Adding/Deleting Nodes
After QDevice Setup"): the QDevice removed first, set up again after, and
refused without pve_cluster_qdevice.

Runs as root. One 4-node bed (prefix `lfc`, subnet 10.93.6) for the whole
module, removed in a finalizer also when a test fails. The tests run in
file order.

    scripts/build && pytest tests/e2e/test_lifecycle.py
"""

import json
import os
import subprocess

import pytest

from bed import ROOT, TB, bed_fixture, parse_corosync_conf, recap, wait_for

PREFIX, NET = "lfc", "10.93.6"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=4, hosts="iso")


def names(b, k=1) -> list:
    conf = parse_corosync_conf(b.conf(k))
    return sorted(n["name"] for n in conf["nodelist"][0]["node"])


def version(b, k=1) -> int:
    return int(parse_corosync_conf(b.conf(k))["totem"][0]["config_version"])


def remove(b, name, *flags, **args):
    return b.module(1, "pve_cluster_node", {"name": name, **args}, *flags)


def test_01_four_nodes_form_a_cluster(bed):
    r = bed.role("lab")
    assert r.returncode == 0, r.stdout[-4000:]
    assert names(bed) == [bed.node(k) for k in (1, 2, 3, 4)]


def test_02_an_online_node_or_one_with_guests_is_not_removed(bed):
    before = bed.conf(1)
    r = remove(bed, bed.node(4))
    assert r["failed"] and not r["changed"], r
    assert r["msg"].startswith(f"{bed.node(4)} is still an online member of the cluster: power it off first"), r
    # The node removing itself: pvecm delnode's "Cannot delete myself".
    r = remove(bed, bed.node(1))
    assert r["failed"] and "cannot remove itself" in r["msg"], r
    bed.tb("node-stop", bed.node(4))
    wait_for(lambda: bed.status(1, "lab")["online_count"] == 3, timeout=120,
             what=f"corosync on {bed.node(1)} to see {bed.node(4)} gone")
    # A guest of the stopped node, seen in the cluster's /etc/pve.
    bed.sh(1, f"echo 'memory: 512' > /etc/pve/nodes/{bed.node(4)}/qemu-server/104.conf")
    r = remove(bed, bed.node(4))
    assert r["failed"] and not r["changed"], r
    assert f"still has guests in /etc/pve/nodes/{bed.node(4)}: qemu-server/104.conf" in r["msg"], r
    bed.sh(1, f"rm /etc/pve/nodes/{bed.node(4)}/qemu-server/104.conf")
    assert bed.conf(1) == before


def test_03_check_mode_shows_the_membership_and_changes_nothing(bed):
    before = bed.conf(1)
    r = remove(bed, bed.node(4), "--check", "--diff")
    assert not r["failed"] and r["changed"], r
    assert r["members"] == {"before": [bed.node(k) for k in (1, 2, 3, 4)],
                            "after": [bed.node(k) for k in (1, 2, 3)]}, r
    assert f"-{bed.node(4)}" in r["_out"], r["_out"]
    assert r["msg"].startswith(f"would remove {bed.node(4)} (node id 4)"), r
    assert bed.conf(1) == before
    # With the SSH clean-up: the lines that would go, and none gone.
    keys = cluster_ssh_file(bed, "authorized_keys")
    r = remove(bed, bed.node(4), "--check", "--diff", remove_ssh_keys=True)
    assert not r["failed"] and r["changed"], r
    gone = r["ssh_keys_removed"]["authorized_keys"]
    assert len(gone) == 1 and gone[0].endswith(f" root@{bed.node(4)}"), r
    assert cluster_ssh_file(bed, "authorized_keys") == keys and bed.conf(1) == before


def three_node_inventory(b):
    """The bed's inventory without node 4: the group that remains."""
    return b.inventory_without(4, "three.yml")


def remove_play(b, inventory, *extra):
    """playbooks/cluster-remove-node.yml, as its header says to run it."""
    cmd = [os.path.join(b.bindir, "ansible-playbook"), "-i", inventory, str(ROOT / "playbooks" / "cluster-remove-node.yml"),
           "-e", "pve_cluster_name=lab", "-e", json.dumps({"pve_cluster_remove": [b.node(4)]}), *extra]
    return subprocess.run(cmd, env=b.aenv, capture_output=True, text=True, timeout=900, cwd=str(ROOT))


def test_04_the_playbook_removes_a_powered_off_node_and_corosync_expects_three_votes(bed):
    # Still in the group: refused before anything runs on the nodes.
    r = remove_play(bed, bed.inventory)
    assert r.returncode != 0 and "take them out of the inventory group" in r.stdout, r.stdout[-3000:]
    v = version(bed)
    gone = bed.node(4)
    # What the join left: the node's root key (ssh-keygen names it root@<node>). Since
    # pve-cluster 8.0.6 a join keeps its host key in /etc/pve/nodes/<node>/ssh_known_hosts
    # only; a cluster formed before also has it in the cluster's known_hosts under the node's
    # name and address (Setup.pm ssh_merge_known_hosts, run by every join then): put it there
    # as such an older join did.
    assert f"root@{gone}" in cluster_ssh_file(bed, "authorized_keys")
    key = bed.sh(1, f"cat /etc/pve/nodes/{gone}/ssh_known_hosts").stdout.split()[1:3]
    bed.sh(1, f"echo '{gone},{bed.ip(4)} {' '.join(key)}' >> /etc/pve/priv/known_hosts")
    assert known_hosts_names(bed) >= {gone, bed.ip(4)}, known_hosts_names(bed)
    r = remove_play(bed, three_node_inventory(bed))
    assert r.returncode == 0, r.stdout[-4000:]
    rc = recap(r.stdout)
    assert rc[bed.node(1)]["changed"] == 1, (rc, r.stdout[-6000:])
    assert rc[bed.node(2)]["changed"] == 0 and rc[bed.node(3)]["changed"] == 0, (rc, r.stdout[-6000:])
    assert version(bed) == v + 1
    assert names(bed) == [bed.node(k) for k in (1, 2, 3)]
    # Every remaining node sees it, from the real corosync.
    for k in (1, 2, 3):
        status = wait_for(lambda k=k: (s := bed.status(k, "lab")) and s["expected_votes"] == 3 and s,
                          timeout=60, what=f"{bed.node(k)} expecting 3 votes")
        assert status["quorate"] and status["node_count"] == 3, status
    assert bed.sh(1, f"test -e /etc/pve/nodes/{bed.node(4)} && echo left || echo gone").stdout.strip() == "gone"
    # The documented clean-up: its keys are out of the cluster's SSH files, the others' stay.
    assert f"root@{gone}" not in cluster_ssh_file(bed, "authorized_keys")
    assert all(f"root@{bed.node(k)}" in cluster_ssh_file(bed, "authorized_keys") for k in (1, 2, 3))
    pinned = known_hosts_names(bed)
    assert not pinned & {gone, bed.ip(4)} and {bed.node(1), bed.ip(1)} <= pinned, pinned


def cluster_ssh_file(b, name):
    return b.sh(1, f"cat /etc/pve/priv/{name}").stdout


def known_hosts_names(b):
    """The plain host names of the cluster's known_hosts."""
    return {n for line in cluster_ssh_file(b, "known_hosts").splitlines() if line and not line.startswith(("#", "@"))
            for n in line.split()[0].split(",")}


def test_05_a_second_removal_is_ok(bed):
    r = remove(bed, bed.node(4), remove_directory=True, remove_ssh_keys=True)
    assert not r["failed"] and not r["changed"], r
    assert r["msg"] == f"{bed.node(4)} is not a node of this cluster", r
    assert r["ssh_keys_removed"] == {"authorized_keys": [], "known_hosts": []}, r


def test_05b_a_removal_that_would_leave_the_cluster_without_quorum_is_refused(bed):
    # Two of three nodes down, and 'pvecm expected 1' (corosync-quorumtool -e 1) lets the
    # last one act alone; removing one of the down nodes would make corosync expect the
    # votes of two nodes with one present: pvecm delnode would leave the cluster inquorate.
    for k in (2, 3):
        bed.tb("node-stop", bed.node(k))
    wait_for(lambda: not bed.status(1, "lab")["quorate"], timeout=90, what=f"{bed.node(1)} losing quorum")
    bed.sh(1, "pvecm expected 1")
    wait_for(lambda: bed.status(1, "lab")["quorate"], timeout=60, what=f"{bed.node(1)} quorate alone")
    before = bed.conf(1)
    for flags in [(), ("--check",)]:
        r = remove(bed, bed.node(3), *flags)
        assert r["failed"] and not r["changed"], r
        assert f"removing {bed.node(3)} would leave the cluster without quorum" in r["msg"], r
        assert "1 votes are present, and 2 of 2 would be needed" in r["msg"], r
    assert bed.conf(1) == before
    for k in (2, 3):
        bed.tb("node-start", bed.node(k))
    for k in (1, 2, 3):
        wait_for(lambda k=k: (s := bed.status(k, "lab")) and s["quorate"] and s["online_count"] == 3
                 and s["expected_votes"] == 3, timeout=120, what=f"{bed.node(k)} back with 3 nodes online")


def test_06_a_rerun_changes_nothing(bed):
    r = remove_play(bed, three_node_inventory(bed))
    assert r.returncode == 0, r.stdout[-4000:]
    rc = recap(r.stdout)
    assert sorted(h for h in rc if h != "localhost") == [bed.node(k) for k in (1, 2, 3)], rc
    assert all(rc[h]["changed"] == 0 and rc[h]["failed"] == 0 for h in rc), rc


# Separating a node without reinstalling (pve-docs pvecm.adoc, "Separate a Node Without
# Reinstalling"): node 3 of the three that remain.

def separate(b, k, *flags):
    return remove(b, b.node(k), *flags, separate=True)


def test_07_a_separation_in_check_mode_changes_nothing(bed):
    before = bed.conf(1)
    r = separate(bed, 3, "--check")
    assert not r["failed"] and r["changed"], r
    assert r["msg"].startswith(f"would separate {bed.node(3)} (node id 3): run on it over SSH "
                               f"(root@{bed.ip(3)}): systemctl stop pve-cluster;"), r
    assert r["separate"]["steps"][-1] == "systemctl start pve-cluster", r
    assert bed.conf(1) == before and bed.conf(3) == before
    assert bed.status(3, "lab")["quorate"]


def test_08_an_offline_node_is_not_separated(bed):
    bed.tb("node-stop", bed.node(3))
    wait_for(lambda: bed.status(1, "lab")["online_count"] == 2, timeout=120,
             what=f"corosync on {bed.node(1)} to see {bed.node(3)} gone")
    before = bed.conf(1)
    r = separate(bed, 3)
    assert r["failed"] and not r["changed"], r
    assert r["msg"].startswith(f"{bed.node(3)} is not online in the cluster"), r
    assert bed.conf(1) == before
    bed.tb("node-start", bed.node(3))
    wait_for(lambda: bed.status(1, "lab")["online_count"] == 3, timeout=180,
             what=f"{bed.node(3)} back in the cluster")


def test_09_a_separated_node_leaves_with_its_guests_files(bed):
    n3 = bed.node(3)
    bed.sh(3, f"echo 'memory: 512' > /etc/pve/nodes/{n3}/qemu-server/300.conf")
    v = version(bed)
    r = separate(bed, 3)
    assert not r["failed"] and r["changed"], r
    assert r["separate"]["guests_kept"] == ["qemu-server/300.conf"], r
    assert f"separated it: {n3} is a standalone node now" in r["msg"], r
    assert names(bed) == [bed.node(1), bed.node(2)]
    assert version(bed) == v + 1
    for k in (1, 2):
        status = wait_for(lambda k=k: (s := bed.status(k, "lab")) and s["expected_votes"] == 2 and s,
                          timeout=60, what=f"{bed.node(k)} expecting 2 votes")
        assert status["quorate"] and status["node_count"] == 2, status
    # Standalone: no cluster, its /etc/pve writable, its guest's file kept.
    s3 = bed.status(3, "lab")
    assert not s3["in_cluster"], s3
    assert bed.sh(3, f"cat /etc/pve/nodes/{n3}/qemu-server/300.conf").stdout == "memory: 512\n"
    assert bed.sh(3, "touch /etc/pve/alone && ls -A /etc/corosync", check=False).stdout == ""
    # A second run: the cluster no longer lists it.
    r = separate(bed, 3)
    assert not r["failed"] and not r["changed"], r


def test_10_the_separated_node_creates_a_cluster_of_its_own(bed):
    r = bed.module(3, "pve_cluster_join", {"cluster_name": "other"})
    assert not r["failed"] and r["changed"] and r["action"] == "create", r
    # Right after the create, pmxcfs restarts: a read may fail for a moment.
    s3 = wait_for(lambda: (s := bed.module(3, "pve_cluster_status", {"cluster_name": "other"}))
                  and not s.get("failed") and s.get("quorate") and s, timeout=120,
                  what=f"{bed.node(3)} quorate in its own cluster")
    assert s3["cluster_name"] == "other" and s3["node_count"] == 1, s3
    assert bed.sh(3, f"cat /etc/pve/nodes/{bed.node(3)}/qemu-server/300.conf").stdout == "memory: 512\n"
    assert names(bed) == [bed.node(1), bed.node(2)]


QNETD = f"{NET}.5"


def authorize_on_qnetd(b):
    """What the operator does: root's key of the first node logs in to the QNetd host."""
    pub = b.sh(1, "cat /root/.ssh/id_rsa.pub").stdout.strip()
    b.tb("exec", f"{PREFIX}qn", "/bin/sh", "-c",
         f"mkdir -p -m 700 /root/.ssh && echo '{pub}' >> /root/.ssh/authorized_keys && "
         "chmod 600 /root/.ssh/authorized_keys")
    b.sh(1, f"ssh-keyscan {QNETD} 2>/dev/null >> /root/.ssh/known_hosts")


def qdevice_voting(b, k, votes):
    s = b.status(k, "lab")
    return s["qdevice"] and s["qdevice"]["casting"] and s["expected_votes"] == votes and s["quorate"] and s


def test_11_the_two_members_get_a_qdevice(bed):
    bed.tb("qnetd-up")
    authorize_on_qnetd(bed)
    two = bed.inventory_without([3, 4], "two.yml")
    cmd = bed.role_cmd("lab", "-e", f"pve_cluster_qdevice={QNETD}")
    cmd[cmd.index("-i") + 1] = two
    r = subprocess.run(cmd, env=bed.aenv, capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert recap(r.stdout)[bed.node(1)]["changed"] >= 1, r.stdout[-3000:]
    wait_for(lambda: qdevice_voting(bed, 1, 3), timeout=60, what="the QDevice's vote counted")


def test_12_nodes_join_a_cluster_with_a_qdevice_only_as_documented(bed):
    bed.tb("reinstall", bed.node(3))
    bed.tb("reinstall", bed.node(4))
    before = bed.conf(1)
    r = bed.role("lab")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "the cluster has a QDevice, and lfc3, lfc4 would join it" in out, out[-4000:]
    assert all(v["changed"] == 0 for v in recap(r.stdout).values()), r.stdout[-3000:]
    assert bed.conf(1) == before

    r = bed.role("lab", "-e", f"pve_cluster_qdevice={QNETD}")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "TASK [proxmox_cluster : Remove the QDevice before the nodes join]" in r.stdout, r.stdout[-6000:]
    assert names(bed) == [bed.node(k) for k in (1, 2, 3, 4)]
    dev = parse_corosync_conf(bed.conf(1))["quorum"][0].get("device", [])
    assert dev and dev[0]["net"][0]["host"] == QNETD and dev[0]["net"][0]["algorithm"] == "ffsplit", dev
    for k in (1, 4):
        wait_for(lambda k=k: qdevice_voting(bed, k, 5), timeout=90, what=f"{bed.node(k)} counting 5 votes")

    r = bed.role("lab", "-e", f"pve_cluster_qdevice={QNETD}")
    assert r.returncode == 0, r.stdout[-4000:]
    assert all(v["changed"] == 0 for v in recap(r.stdout).values()), r.stdout[-3000:]
