"""Faults on the test bed: what the modules and the role do when things go
wrong, on purpose. Each test says which real failure it reproduces.

Runs as root. One 3-node bed (prefix `flt`, subnet 10.93.1) for the whole
module, removed in a finalizer also when a test fails. The tests run in
file order; each leaves the bed usable for the next, and two of them start
from fresh nodes (`tb down` + `tb up`, about a second).

    scripts/build && pytest tests/e2e/test_faults.py
"""

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bed import BIN, ROOT, TB, bed_fixture, conf_nodes, conf_version, parse_corosync_conf, recap, wait_for

PREFIX, NET = "flt", "10.93.1"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")


def hosts_nodes(b, ks, domain="tb.test"):
    return [{"ip": b.ip(k), "fqdn": f"{b.node(k)}.{domain}"} for k in ks]


def fatal_messages(stdout: str) -> list:
    return [m.group(1) for m in re.finditer(r'"msg": "((?:[^"\\]|\\.)*)"', stdout)]


def stores(b) -> list:
    """The cluster file systems the bed holds: one per cluster ever created."""
    # The bed keeps its state beside its inventory (see testbed/tb: TB_DIR).
    d = Path(b.inventory).parent / "clusters"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def assert_one_cluster(b, name, ks=(1, 2, 3)):
    """Every node's /etc/pve/corosync.conf parses, lists each node once with
    unique node ids, has the same config_version everywhere, and the
    nodes share one cluster file system; every node is a quorate member."""
    versions, markers = set(), set()
    for k in ks:
        conf = parse_corosync_conf(b.conf(k))
        names = conf_nodes(conf)
        assert sorted(names) == sorted(b.node(j) for j in ks), (k, names)
        ids = [n["nodeid"] for nl in conf["nodelist"] for n in nl["node"]]
        assert len(set(ids)) == len(ids), (k, ids)
        assert conf["totem"][0]["cluster_name"] == name
        versions.add(conf_version(conf))
        markers.add(b.sh(k, "cat /var/lib/pve-cluster/tb-pve-dir").stdout.strip())
    assert len(versions) == 1, versions
    assert len(markers) == 1, markers
    for k in ks:
        st = b.status(k, name)
        assert st["in_target_cluster"] and st["quorate"], st
    return versions.pop()


# ---------------------------------------------------------------- /etc/hosts

def test_01_hosts_read_only_fails_and_leaves_file(bed):
    # Reproduces: /etc/hosts on a read-only mount (a container's read-only
    # bind mount, a root file system remounted ro after an I/O error). The
    # module must fail with the reason and change nothing.
    before = bed.sh(3, "cat /etc/hosts").stdout
    bed.sh(3, "mount --bind /etc/hosts /etc/hosts && mount -o remount,bind,ro /etc/hosts")
    try:
        r = bed.module(3, "pve_hosts", {"nodes": hosts_nodes(bed, (1, 2, 3)) + [{"ip": "10.93.1.99", "fqdn": "x.tb.test"}]})
        assert r["failed"] is True, r
        assert r.get("changed") is False, r
        assert "/etc/hosts" in r["msg"] and "read-only" in r["msg"].lower(), r["msg"]
        assert bed.sh(3, "cat /etc/hosts").stdout == before
    finally:
        bed.sh(3, "umount /etc/hosts", check=False)
    assert bed.sh(3, "cat /etc/hosts").stdout == before
    left = bed.sh(3, "ls -a /etc | grep -c '^\\.hosts\\..*\\.tmp$' || true").stdout.strip()
    assert left == "0", "temporary file left behind"


def test_02_hosts_full_file_system_fails_and_leaves_file(bed):
    # Reproduces: the file system of the hosts file is full (a root file
    # system filled by logs). The temporary copy cannot be written; the
    # module must fail with the reason, keep the old file and remove its
    # temporary file. A 64 KiB tmpfs filled up stands in for the disk;
    # `path` points into it (the resolver is not involved, verify is off).
    bed.sh(3, "mkdir -p /root/full && mount -t tmpfs -o size=64k tmpfs /root/full && "
              "cp /etc/hosts /root/full/hosts && "
              "(dd if=/dev/zero of=/root/full/fill bs=4k 2>/dev/null || true)")
    try:
        assert bed.sh(3, "df --output=avail /root/full | tail -1").stdout.strip() == "0"
        before = bed.sh(3, "cat /root/full/hosts").stdout
        r = bed.module(3, "pve_hosts", {"nodes": hosts_nodes(bed, (1, 2, 3)) + [
            {"ip": "10.93.1.%d" % k, "fqdn": "filler%d.tb.test" % k} for k in range(100, 200)],
            "path": "/root/full/hosts", "verify": False})
        assert r["failed"] is True, r
        assert r.get("changed") is False, r
        assert "/root/full/hosts" in r["msg"] and "no space" in r["msg"].lower(), r["msg"]
        assert bed.sh(3, "cat /root/full/hosts").stdout == before
        assert bed.sh(3, "ls -a /root/full").stdout.split() == [".", "..", "fill", "hosts"]
    finally:
        bed.sh(3, "umount /root/full; rmdir /root/full", check=False)


# Runs inside the node: the module binary (the nodes share the host's /usr
# and this tree) is started again and again and killed with SIGKILL after a
# random delay within its measured run time. Each run switches the file
# between two known contents (the extra nodes' lines taken off, put back). After every kill the file must be exactly
# one of them. Prints a JSON summary.
KILL_LOOP = r"""
import json, os, random, signal, subprocess, sys, time
module, runs = sys.argv[1], int(sys.argv[2])
contents, args = [], []
for i, a in enumerate(json.loads(sys.argv[3])):
    path = "/root/args%d.json" % i
    with open(path, "w") as f:
        json.dump(a, f)
    args.append(path)
# Learn both contents and the run time.
t0 = time.monotonic()
for p in args * 3:
    subprocess.run([module, p], capture_output=True, check=True)
    contents.append(open("/etc/hosts").read())
mean = (time.monotonic() - t0) / 6
old, new = contents[0], contents[1]
assert old != new and contents[2:4] == [old, new]
stats = {"runs": runs, "killed_running": 0, "kept": 0, "replaced": 0, "other": 0, "mean_ms": mean * 1000}
cur = open("/etc/hosts").read()
for i in range(runs):
    target = new if cur == old else old
    p = subprocess.Popen([module, args[1] if target == new else args[0]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.uniform(0, mean))
    if p.poll() is not None:
        p.wait()
        cur = open("/etc/hosts").read()
        continue
    p.send_signal(signal.SIGKILL)
    p.wait()
    stats["killed_running"] += 1
    now = open("/etc/hosts").read()
    if now == cur:
        stats["kept"] += 1
    elif now == target:
        stats["replaced"] += 1
        cur = now
    else:
        stats["other"] += 1
        stats.setdefault("sample", now)
        break
stats["temps_left"] = len([n for n in os.listdir("/etc") if n.startswith(".hosts.") and n.endswith(".tmp")])
print(json.dumps(stats))
"""


def test_03_hosts_sigkill_leaves_old_or_new_never_partial(bed):
    # Reproduces: the module (or the whole ansible run, or the node) killed
    # while it writes /etc/hosts. The file is written to a temporary file,
    # synced and renamed over the original, so at any instant the file is
    # either the old or the new content. Kills at random moments
    # within the module's measured run time (about 400 runs, of which the
    # ones killed while running are counted).
    before = bed.sh(3, "cat /etc/hosts").stdout
    extras = [{"ip": "10.93.1.%d" % k, "fqdn": "extra%d.tb.test" % k} for k in range(100, 140)]
    # absent takes the extra lines off, present puts them back: each run changes the file
    variants = [{"nodes": extras, "state": "absent"}, {"nodes": extras, "verify": False}]
    # The node's view of the file system may not hold the checkout (a node
    # has its own /tmp): the module is copied in, as Ansible copies it.
    module = "/root/pve_hosts"
    subprocess.run([str(TB), "exec", bed.node(3), "/bin/sh", "-c", f"cat > {module} && chmod 755 {module}"],
                   input=(BIN / "pve_hosts").read_bytes(), env=bed.env, check=True, timeout=60)
    try:
        r = bed.tb("exec", bed.node(3), "python3", "-c", KILL_LOOP, module, "400",
                   json.dumps(variants), timeout=300)
        stats = json.loads(r.stdout.strip().splitlines()[-1])
        print("sigkill loop:", stats)
        assert stats["other"] == 0, stats
        # the kills must really have hit running modules, before and after the rename
        assert stats["killed_running"] >= 50, stats
        assert stats["kept"] > 0 and stats["replaced"] > 0, stats
    finally:
        subprocess.run([str(TB), "exec", bed.node(3), "/bin/sh", "-c",
                        f"cat > /etc/hosts; rm -f /etc/.hosts.*.tmp /root/args0.json /root/args1.json {module}"],
                       input=before, env=bed.env, text=True, timeout=60)
    assert bed.sh(3, "cat /etc/hosts").stdout == before


# ---------------------------------------------------------------- the role

def test_04_two_role_runs_at_once(bed):
    # Reproduces: two operators (or two CI jobs) run the role against the
    # same fresh nodes at the same time. No node may join twice, no config
    # may be corrupt, and the result is one healthy cluster or a clear error
    # in one run; a third run converges.
    for k in (1, 2, 3):
        assert bed.status(k, "lab")["in_cluster"] is False
    procs = [subprocess.Popen(bed.role_cmd("lab"), env=bed.aenv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, cwd=str(ROOT)) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    rcs = [p.returncode for p in procs]
    print("concurrent runs rc:", rcs)
    for rc, out in zip(rcs, outs):
        if rc != 0:
            msgs = fatal_messages(out)
            print("failed run:", msgs)
            assert msgs, out[-3000:]
    assert 0 in rcs or all(rc != 0 for rc in rcs), rcs
    # Whatever happened, the configs on disk are sane now.
    for k in (1, 2, 3):
        text = bed.conf(k)
        if text:
            conf = parse_corosync_conf(text)
            names = conf_nodes(conf)
            assert len(names) == len(set(names)), (k, names)
    assert len(stores(bed)) == 1, stores(bed)

    third = bed.role("lab")
    assert third.returncode == 0, third.stdout[-4000:]
    assert_one_cluster(bed, "lab")
    concurrent_result["rcs"] = rcs
    concurrent_result["msgs"] = [fatal_messages(o) for o, rc in zip(outs, rcs) if rc]


concurrent_result = {}


def test_05_corosync_stopped_on_a_member(bed):
    # Reproduces: corosync crashed or was stopped on one member of a
    # healthy cluster. The quorum check must name that node; the node
    # itself must report corosync not running; the others must show it
    # offline.
    bed.tb("corosync-stop", bed.node(3))
    try:
        r = bed.module(1, "pve_quorum_check", {"cluster_name": "lab", "expected_nodes": 3, "timeout": 3})
        assert r["failed"] is True, r
        assert bed.node(3) in r["msg"] and "offline" in r["msg"], r["msg"]
        assert bed.node(1) not in r["msg"] and bed.node(2) not in r["msg"], r["msg"]
        st3 = bed.status(3, "lab")
        assert st3["corosync_running"] is False, st3
        assert st3["in_target_cluster"] is True, st3
        st1 = bed.status(1, "lab")
        online = {n["name"]: n["online"] for n in st1["nodes"]}
        assert online == {bed.node(1): True, bed.node(2): True, bed.node(3): False}, st1["nodes"]
        assert st1["quorate"] is True, st1
        # The role's plan refuses a member whose corosync does not run,
        # before any change on any node, naming it and what to do.
        run = bed.role("lab", "-e", "pve_cluster_quorum_timeout=4")
        assert run.returncode != 0, run.stdout[-3000:]
        assert all(r["changed"] == 0 for r in recap(run.stdout).values()), run.stdout[-3000:]
        msgs = fatal_messages(run.stdout)
        mine = [m for m in msgs if m.startswith(f"{bed.node(3)} cannot be part of cluster 'lab'")]
        assert mine and "corosync is not running on it: start corosync" in mine[0], msgs
        assert len(msgs) == 3 and all(f"because {bed.node(3)} stopped the run" in m for m in msgs if m not in mine), msgs
    finally:
        bed.tb("corosync-start", bed.node(3))
    r = bed.module(1, "pve_quorum_check", {"cluster_name": "lab", "expected_nodes": 3, "timeout": 60})
    assert not r["failed"], r
    # Healthy again and nothing to change: the wait is skipped, and says so.
    run = bed.role("lab")
    assert run.returncode == 0, run.stdout[-3000:]
    assert all(r["changed"] == 0 for r in recap(run.stdout).values()), run.stdout[-3000:]
    assert "Wait until the cluster is quorate" in run.stdout
    assert run.stdout.count("was quorate with all 3 nodes online when this run started") == 3, run.stdout[-3000:]


def test_06_first_node_reinstalled(bed):
    # Reproduces: the node that created the cluster is reinstalled (same
    # name and address, empty disks, new SSH host keys) while the others
    # are still clustered. The cluster lists it, offline, with the host key
    # it had (/etc/pve/nodes/<node>/ssh_known_hosts). The role must neither
    # create a second cluster of the same name on it nor quietly let the
    # new node take the member's place: it stops before any change, naming
    # the node and pve_cluster_replace_reinstalled. With that variable, the
    # stale member is removed (pvecm delnode) and the new node joins the
    # existing cluster in its place.
    before = stores(bed)
    bed.tb("reinstall", bed.node(1))
    assert bed.status(1, "lab")["in_cluster"] is False
    wait_for(lambda: bed.status(2, "lab")["online_count"] == 2, timeout=120,
             what=f"the cluster to see {bed.node(1)} gone")
    conf = bed.conf(2)
    r = bed.role("lab")
    assert r.returncode != 0, r.stdout[-4000:]
    assert (f"{bed.node(1)} is listed as a member of cluster 'lab' (offline), but is itself in no cluster"
            in r.stdout), r.stdout[-4000:]
    assert "Set pve_cluster_replace_reinstalled: true" in r.stdout
    assert all(v["changed"] == 0 for v in recap(r.stdout).values()), recap(r.stdout)
    assert bed.conf(2) == conf
    r = bed.role("lab", "-e", "pve_cluster_replace_reinstalled=true")
    assert r.returncode == 0, r.stdout[-4000:]
    assert stores(bed) == before, "a second cluster was created"
    assert_one_cluster(bed, "lab")
    assert f"changed: [{bed.node(2)} -> {bed.node(1)}(" in r.stdout, "node 1 did not join"
    assert re.search(r"TASK \[proxmox_cluster : Remove the stale member that the reinstalled node replaces, "
                     + bed.node(1) + r"\] \*+\nchanged: \[" + bed.node(2), r.stdout), r.stdout[-4000:]
    assert not re.search(r"TASK \[proxmox_cluster : Create the cluster on the first node\] \*+\n(changed|ok)",
                         r.stdout), "create ran"
    # A second run with the variable: nothing is reinstalled any more.
    r = bed.role("lab", "-e", "pve_cluster_replace_reinstalled=true")
    assert r.returncode == 0 and all(v["changed"] == 0 for v in recap(r.stdout).values()), r.stdout[-3000:]


def test_07_peer_stopped_during_join(bed):
    # Reproduces: the peer a node joins through goes down (power loss,
    # reboot) while `pvecm add` runs on the joiner. The node-stop is fired
    # as soon as `pvecm add` shows in the joiner's process table, after
    # the module's own checks of the peer passed. The join must fail with
    # a message saying what happened, changed=false, and once the peer is
    # back a re-run must complete the cluster.
    bed.down()
    bed.n = 4  # test_08 needs a fourth node
    bed.up()
    r = bed.module(1, "pve_cluster_join", {"cluster_name": "pd", "timeout": 60})
    assert r["changed"] is True, r
    args = {"cluster_name": "pd", "peer": bed.ip(1), "use_ssh": False, "password": bed.password(),
            "fingerprint": bed.fingerprint(1), "timeout": 30}
    proc, tree = bed.module_popen(2, "pve_cluster_join", args)
    stopped = {}

    def stop_when_pvecm_runs():
        def pvecm_add():
            # the scanning shell and the greps are left out: they carry the pattern
            s = bed.sh(2, "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | "
                          "grep -v -e '^/bin/sh' -e '^grep' | grep -c 'sbin/pvecm add'", check=False)
            return s.stdout.strip() not in ("", "0") or proc.poll() is not None
        try:
            wait_for(pvecm_add, 120, "pvecm add on node 2", interval=0.02)
        finally:
            if proc.poll() is None:
                stopped["at"] = time.monotonic()
                bed.tb("node-stop", bed.node(1))

    t = threading.Thread(target=stop_when_pvecm_runs)
    t.start()
    out, err = proc.communicate(timeout=600)
    t.join()
    try:
        assert stopped, "the join ended before the peer could be stopped"
        r = bed.tree_result(tree, 2, proc.returncode, out, err)
        print("join with the peer stopped:", r.get("msg"))
        assert r["failed"] is True, r
        assert r["changed"] is False, r
        assert "failed to join" in r["msg"], r["msg"]
        assert bed.ip(1) in r["msg"], r["msg"]
        assert "State now" in r["msg"], r["msg"]
        peer_down_result["msg"] = r["msg"]
    finally:
        bed.tb("node-start", bed.node(1))
    wait_for(lambda: bed.status(1, "pd")["quorate"], 60, "node 1 quorate again")
    args["fingerprint"] = bed.fingerprint(1)
    r = bed.module(2, "pve_cluster_join", args)
    assert not r["failed"], r
    assert r["changed"] is True, r
    assert_one_cluster(bed, "pd", (1, 2))


peer_down_result = {}


def test_08_corosync_cut_during_formation(bed):
    # Reproduces: a firewall (or a wrong VLAN) drops corosync's UDP 5405 on
    # one node while the cluster is formed; SSH and the API still work.
    # Cluster 'pd' has nodes 1 and 2 (previous test); node 3 joins it here,
    # then node 2 is cut and the role forms the 4-node cluster: it joins
    # node 4 (nodes 1, 3, 4 are a quorate majority) and must then fail at
    # verify naming node 2; after `tb heal` a re-run must pass.
    # (Cutting the joining node instead makes its `pvecm add` wait for quorum
    # until the module's 300 s minimum command timeout: see RELIABILITY.md.)
    args = {"cluster_name": "pd", "peer": bed.ip(1), "use_ssh": False, "password": bed.password(),
            "fingerprint": bed.fingerprint(1), "timeout": 60}
    r = bed.module(3, "pve_cluster_join", args)
    assert r["changed"] is True, r
    bed.tb("cut", bed.node(2))
    try:
        r = bed.role("pd", "-e", "pve_cluster_quorum_timeout=10")
        assert r.returncode != 0, r.stdout[-4000:]
        verify = r.stdout[r.stdout.index("TASK [proxmox_cluster : Wait until the cluster is quorate"):]
        msgs = [m for m in fatal_messages(verify) if bed.node(2) in m]
        assert msgs, r.stdout[-4000:]
        print("cut node at verify:", msgs)
        cut_result["msgs"] = msgs
        assert f"changed: [{bed.node(1)} -> {bed.node(4)}(" in r.stdout, "node 4 did not join"
    finally:
        bed.tb("heal", bed.node(2))
    r = bed.role("pd")
    assert r.returncode == 0, r.stdout[-4000:]
    assert_one_cluster(bed, "pd", (1, 2, 3, 4))


cut_result = {}
