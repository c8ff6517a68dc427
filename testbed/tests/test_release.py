"""`tb up --release`: the PVE release the bed imitates.  PVE 8 and 9.0 have the same pvecm;
pve-cluster 9.1.0 added `pvecm create --token-coefficient` (API2/ClusterConfig.pm create:
integer >= 0, default 125), which Corosync.pm create_conf writes into totem.  Each test
brings up its own one-node bed (prefixes `tbr`/`tbs`) and tears it down."""
import os

import pytest

from tbkit import bed_env, make_tb, wait_for


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root")


def bed_tb(prefix, net):
    return make_tb(bed_env(prefix, net))


@pytest.fixture
def bed91():
    tb = bed_tb("tbr", "10.93.0")
    tb("down", check=False)
    try:
        tb("up", "-n", "2", "--hosts", "iso", "--release", "9.1")
        yield tb
    finally:
        tb("down", check=False)


@pytest.fixture
def bed8():
    tb = bed_tb("tbs", "10.92.0")
    tb("down", check=False)
    try:
        tb("up", "-n", "1", "--hosts", "iso")
        yield tb
    finally:
        tb("down", check=False)


def totem(tb, node):
    text = tb("exec", node, "cat", "/etc/pve/corosync.conf").stdout
    return text[text.index("totem {"):]


def test_release_9_1_token_coefficient(bed91):
    tb = bed91
    # pmxcfs status.c memdb_change_array of pve-cluster 9.1
    version = tb("exec", "tbr1", "cat", "/etc/pve/.version").stdout
    assert '"ha/rules.cfg": 0,\n' in version and '"priv/ipam.db"' not in version
    r = tb("exec", "tbr1", "pvecm", "create", "c91")
    assert r.stderr == ""
    assert "  secauth: on\n  token_coefficient: 125\n  version: 2\n" in totem(tb, "tbr1")
    r = tb("exec", "tbr2", "pvecm", "create", "c91b", "--token-coefficient", "-1", check=False)
    assert (r.returncode, r.stderr) == (255, "400 Parameter verification failed.\n"
                                        "token-coefficient: value must have a minimum value of 0\n"
                                        "pvecm create <clustername> [OPTIONS]\n")
    tb("exec", "tbr2", "pvecm", "create", "c91b", "--token-coefficient", "0")
    assert "  token_coefficient: 0\n" in totem(tb, "tbr2")
    # the real corosync takes it
    wait_for(lambda: tb("exec", "tbr2", "corosync-quorumtool", "-s", check=False).returncode == 0, 60,
             "corosync on tbr2 quorate")
    assert tb("exec", "tbr2", "corosync-cmapctl", "-g", "totem.token_coefficient").stdout.strip() \
        == "totem.token_coefficient (u32) = 0"


def test_release_8_has_no_token_coefficient(bed8):
    tb = bed8
    # ... and of pve-cluster 8.1 (stable-bookworm)
    version = tb("exec", "tbs1", "cat", "/etc/pve/.version").stdout
    assert '"priv/ipam.db": 0,\n' in version and '"ha/rules.cfg"' not in version
    r = tb("exec", "tbs1", "pvecm", "create", "c8", "--token-coefficient", "125", check=False)
    assert (r.returncode, r.stderr) == (255, "Unknown option: token-coefficient\n400 unable to parse option\n"
                                        "pvecm create <clustername> [OPTIONS]\n")
    tb("exec", "tbs1", "pvecm", "create", "c8")
    assert "token_coefficient" not in totem(tb, "tbs1")
