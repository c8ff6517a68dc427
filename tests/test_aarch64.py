"""The aarch64 binaries behave as the x86_64 ones: each module, run under
qemu-user (no kernel registration: qemu is called explicitly), gives the same
result for the same args, on the same stand-ins. Needs scripts/build --all
and qemu-user (scripts/setup)."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, STANDINS, fixture, replay_dir

BIN = ROOT / "bin"
QEMU = shutil.which("qemu-aarch64") or "/usr/bin/qemu-aarch64"

pytestmark = pytest.mark.skipif(not os.path.exists(QEMU), reason="qemu-user is not installed: run scripts/setup")

CASES = [
    ("pve_cluster_status", {"cluster_name": "krnn", "_ansible_check_mode": True}),
    ("pve_cluster_status", {"cluster_name": 5, "bogus": 1}),
    ("pve_quorum_check", {"cluster_name": "krnn", "expected_nodes": 2, "timeout": 1}),
    ("pve_cluster_join", {"cluster_name": "krnn", "_ansible_check_mode": True}),
    ("pve_hosts", {"nodes": [{"name": "pve1", "ip": "192.0.2.11"}], "path": "@HOSTS@", "verify": False,
                   "_ansible_check_mode": True, "_ansible_diff": True}),
    ("pve_corosync_totem", {"totem": {"token": "x"}}),
    ("pve_ssh_trust", {"key_type": "dsa"}),
]


def run(argv: list, args: dict, env: dict) -> dict:
    r = subprocess.run([*argv, "-"], input=json.dumps(args), capture_output=True, text=True, env=env, timeout=120)
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (argv, r.stdout, r.stderr)
    return json.loads(lines[0])


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_the_aarch64_binary_answers_as_the_x86_64_one(name, args, tmp_path):
    arm = BIN / "aarch64" / name
    if not arm.exists():
        pytest.fail(f"{arm} is missing: run scripts/build --all")
    replay = replay_dir(tmp_path, fixture("status-real-pve9-2node.stdout"), nodes=fixture("nodes-pve9-2node.stdout"))
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    args = json.loads(json.dumps(args).replace("@HOSTS@", str(hosts)))
    env = dict(os.environ, PATH=f"{STANDINS}:{os.environ['PATH']}", PVECM_REPLAY=str(replay))
    native = run([str(BIN / "x86_64" / name)], args, env)
    emulated = run([QEMU, str(arm)], args, env)
    if name == "pve_quorum_check":
        # How long the check took, in seconds, differs from run to run.
        for result in (native, emulated):
            result.pop("waited")
            result["msg"] = result["msg"].split(" (checked")[0]
    assert emulated == native
