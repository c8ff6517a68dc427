"""The role's SSH trust and Proxmox VE's own SSH management never fight.

After the role formed a cluster, `pvecm updatecerts` runs on every node (as
pveproxy's start, an upgrade or an operator runs it: pve-cluster Setup.pm
`updatecerts_and_ssh` merges /etc/pve/priv/authorized_keys and rewrites
/etc/pve/nodes/<node>/ssh_known_hosts from the node's RSA host key). Then
root on every node reaches every other node without a prompt:

* by name and by address, as `pvecm add --use_ssh` and an operator do;
* as PVE's migrations do (pve-cluster SSHInfo.pm `ssh_info_to_ssh_opts`):
  `-o BatchMode=yes -o HostKeyAlias=<node>
  -o UserKnownHostsFile=/etc/pve/nodes/<node>/ssh_known_hosts
  -o GlobalKnownHostsFile=none`.

And a re-run of the role changes nothing: it does not undo what PVE wrote,
and PVE did not undo what it wrote.

Runs as root. One 3-node bed (prefix `pss`, subnet 10.93.7), removed in a
finalizer also when a test fails.

    scripts/build && pytest tests/e2e/test_pve_ssh.py
"""

import os

import pytest

from bed import TB, bed_fixture, recap, wait_for

PREFIX, NET = "pss", "10.93.7"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]

bed = bed_fixture(PREFIX, NET, nodes=3, hosts="iso")


def ssh(b, k, *args):
    return b.sh(k, " ".join(["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", *args, "true"]),
                check=False)


def test_01_formation_then_pvecm_updatecerts_everywhere(bed):
    r = bed.role("lab")
    assert r.returncode == 0, r.stdout[-4000:]
    for k in (1, 2, 3):
        out = bed.sh(k, "pvecm updatecerts", check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        assert bed.sh(k, "readlink /root/.ssh/authorized_keys").stdout.strip() == "/etc/pve/priv/authorized_keys"
        known = bed.sh(k, f"cat /etc/pve/nodes/{bed.node(k)}/ssh_known_hosts").stdout
        assert known.startswith(f"{bed.node(k)} ssh-rsa "), known


@pytest.mark.parametrize("way", ["name", "address", "pve"])
def test_02_every_node_reaches_every_other_without_a_prompt(bed, way):
    for i in (1, 2, 3):
        for j in (1, 2, 3):
            if i == j:
                continue
            target = bed.node(j)
            if way == "name":
                r = ssh(bed, i, f"root@{target}")
            elif way == "address":
                r = ssh(bed, i, f"root@{bed.ip(j)}")
            else:
                r = ssh(bed, i, "-o", f"HostKeyAlias={target}",
                        "-o", f"UserKnownHostsFile=/etc/pve/nodes/{target}/ssh_known_hosts",
                        "-o", "GlobalKnownHostsFile=none", f"root@{bed.ip(j)}")
            assert r.returncode == 0, f"{bed.node(i)} -> {target} by {way}: {r.stdout}{r.stderr}"


def test_03_a_rerun_of_the_role_changes_nothing(bed):
    before = {k: bed.sh(k, "md5sum /etc/pve/priv/authorized_keys /root/.ssh/known_hosts "
                           f"/etc/pve/nodes/{bed.node(k)}/ssh_known_hosts").stdout for k in (1, 2, 3)}
    r = bed.role("lab")
    assert r.returncode == 0, r.stdout[-4000:]
    rc = recap(r.stdout)
    assert all(v["changed"] == 0 and v["failed"] == 0 for v in rc.values()), rc
    after = {k: bed.sh(k, "md5sum /etc/pve/priv/authorized_keys /root/.ssh/known_hosts "
                          f"/etc/pve/nodes/{bed.node(k)}/ssh_known_hosts").stdout for k in (1, 2, 3)}
    assert after == before


def test_04_without_quorum_writes_into_etc_pve_fail_clearly_and_change_nothing(bed):
    # Reproduces: a node cut off from the others (corosync traffic dropped)
    # loses quorum, and pmxcfs turns /etc/pve read-only for it: every
    # change answers EACCES (pve-cluster src/pmxcfs/dcdb.c
    # dcdb_send_fuse_message). The modules that write there say so, and
    # leave the files as they were.
    bed.tb("cut", bed.node(3))
    try:
        wait_for(lambda: '"quorate": 0' in bed.sh(3, "cat /etc/pve/.members", check=False).stdout,
                 timeout=120, what=f"pmxcfs on {bed.node(3)} without quorum")
        conf = bed.conf(3)
        r = bed.module(3, "pve_corosync_totem", {"totem": {"token": 4000}})
        assert r["failed"] and not r["changed"], r
        assert ("/etc/pve is read-only, the cluster is not quorate. pmxcfs accepts no writes without quorum"
                in r["msg"]), r["msg"]
        assert bed.conf(3) == conf
        assert bed.sh(3, "ls /etc/pve/corosync.conf.new /etc/pve/corosync.conf.bak 2>/dev/null",
                      check=False).stdout == ""
        keys = bed.sh(3, "cat /etc/pve/priv/authorized_keys").stdout
        extra = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBq0Vh4cxxLwIU1vJ/0Ns0ulb0T+xqr5hztRNNNpwbTk extra@test"
        # key_type rsa: the node's key (PVE's id_rsa) is there, only the file changes.
        r = bed.module(3, "pve_ssh_trust", {"key_type": "rsa", "authorized_keys": [extra]})
        assert r["failed"] and not r["changed"], r
        assert "pmxcfs refused the write" in r["msg"] and "read-only while the cluster is not quorate" in r["msg"], r
        assert bed.sh(3, "cat /etc/pve/priv/authorized_keys").stdout == keys
    finally:
        bed.tb("heal", bed.node(3))
    wait_for(lambda: '"quorate": 1' in bed.sh(3, "cat /etc/pve/.members", check=False).stdout,
             timeout=120, what=f"{bed.node(3)} quorate again")
