"""pve_hosts on the test bed (testbed/README.md), run as root.

The bed's nodes start with the Debian installer's hosts file, whose
`127.0.1.1 <fqdn> <name>` line keeps pve-cluster from starting. The module,
run over SSH by ansible like on a real node, must fix that so that pvecm
works after `service pve-cluster restart`, and must write a bind-mounted
/etc/hosts in place, with a warning. The bed has its own prefix and subnet
and is torn down also when a test fails."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TB = ROOT / "testbed" / "tb"
MODULES = ROOT / "plugins" / "modules"
BINARY = ROOT / "bin" / "x86_64" / "pve_hosts"
PREFIX = "hsb"
NET = "10.91.7"
DOMAIN = "tb.test"
ENV = dict(os.environ, TB_PREFIX=PREFIX, TB_NET=NET, TB_QUIET="1", TB_DOMAIN=DOMAIN)
ENV.pop("TB_DIR", None)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]


def tb(*args, check=True, timeout=180):
    r = subprocess.run([str(TB), *args], env=ENV, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"tb {' '.join(args)} failed rc={r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def node(k: int) -> str:
    return f"{PREFIX}{k}"


def ip(k: int) -> str:
    return f"{NET}.{10 + k}"


NODES = [{"ip": ip(k), "fqdn": f"{node(k)}.{DOMAIN}"} for k in (1, 2)]


def wait_for(pred, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timeout after {timeout} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def inventory(request):
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run scripts/build first")
    tb("down", check=False)
    request.addfinalizer(lambda: tb("down", check=False))
    tb("up", "-n", "2", "--hosts", "debian")
    return tb("inventory").stdout.strip()


def pve_hosts(inventory: str, host: str, args: dict, *flags: str) -> dict:
    """Runs the module ad hoc on one node. Returns its result, with the
    warnings ansible printed under `warnings` (ansible takes them out of the
    result)."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOLOR="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    cmd = ["ansible", "-i", inventory, host, "-M", str(MODULES), "-m", "pve_hosts", "-a", json.dumps(args), *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    match = re.search(rf"^{host} \| [A-Z!]+ => ", proc.stdout, re.M)
    if not match:
        raise AssertionError(f"no result from ansible rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result, _ = json.JSONDecoder().raw_decode(proc.stdout[match.end():])
    result["warnings"] = re.findall(r"^\[WARNING\]: (.*)$", proc.stderr + proc.stdout, re.M)
    return result


def test_a_node_on_127_0_1_1_is_fixed_and_pvecm_works(inventory):
    n = node(1)
    before = tb("exec", n, "cat", "/etc/hosts").stdout
    assert re.search(rf"^127\.0\.1\.1\s+{n}\.{DOMAIN}\s+{n}$", before, re.M), before
    broken = tb("exec", n, "pvecm", "status", check=False)
    assert broken.returncode != 0, broken.stdout

    checked = pve_hosts(inventory, n, {"nodes": NODES}, "--check", "--diff")
    assert not checked.get("failed"), checked
    assert checked["changed"] is True
    assert {r["status"] for r in checked["resolution"]} == {"pending"}, checked["resolution"]
    assert tb("exec", n, "cat", "/etc/hosts").stdout == before

    result = pve_hosts(inventory, n, {"nodes": NODES})
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert all(r["ok"] for r in result["resolution"]), result["resolution"]
    local = result["resolution"][-1]
    assert (local["kind"], local["name"], local["resolved"]) == ("local", n, [ip(1)]), local
    after = tb("exec", n, "cat", "/etc/hosts").stdout
    assert "127.0.1.1" not in after, after
    assert f"{ip(1)} {n}.{DOMAIN} {n}\n{ip(2)} {node(2)}.{DOMAIN} {node(2)}\n" in after, after

    tb("exec", n, "service", "pve-cluster", "restart")

    def pmxcfs_answers():
        r = tb("exec", n, "pvecm", "status", check=False)
        return "Connection refused" not in r.stdout + r.stderr and r

    wait_for(pmxcfs_answers, 60, f"pve-cluster on {n}")
    tb("exec", n, "pvecm", "create", f"{PREFIX}clu", timeout=120)

    def quorate():
        r = tb("exec", n, "pvecm", "status", check=False)
        return r.returncode == 0 and re.search(r"^Quorate:\s+Yes", r.stdout, re.M) and r

    wait_for(quorate, 60, f"{n} quorate")

    again = pve_hosts(inventory, n, {"nodes": NODES})
    assert not again.get("failed"), again
    assert again["changed"] is False, again


def test_a_bind_mounted_hosts_file_is_written_in_place(inventory):
    n = node(2)
    tb("exec", n, "sh", "-c", "cp /etc/hosts /root/hosts.bound && mount --bind /root/hosts.bound /etc/hosts")
    assert tb("exec", n, "findmnt", "-n", "/etc/hosts", check=False).returncode == 0

    result = pve_hosts(inventory, n, {"nodes": NODES})
    assert not result.get("failed"), result
    assert result["changed"] is True
    warnings = result["warnings"]
    assert any(
        # The text of EBUSY is the C library's: glibc and musl differ.
        w.startswith("/etc/hosts could not be replaced atomically (")
        and "busy (os error 16); it is probably bind-mounted" in w
        and w.endswith("it was overwritten in place instead")
        for w in warnings
    ), warnings
    assert all(r["ok"] for r in result["resolution"]), result["resolution"]
    bound = tb("exec", n, "cat", "/root/hosts.bound").stdout
    assert tb("exec", n, "cat", "/etc/hosts").stdout == bound
    assert "127.0.1.1" not in bound, bound
    assert f"{ip(2)} {n}.{DOMAIN} {n}\n" in bound, bound
    assert tb("exec", n, "findmnt", "-n", "/etc/hosts", check=False).returncode == 0, "still bind-mounted"
    leftovers = tb("exec", n, "sh", "-c", "ls -a /etc | grep -c '^\\.hosts\\..*\\.tmp$' || true").stdout.strip()
    assert leftovers == "0", leftovers

    again = pve_hosts(inventory, n, {"nodes": NODES})
    assert not again.get("failed"), again
    assert again["changed"] is False
    assert not any("atomically" in w for w in again["warnings"]), again["warnings"]
