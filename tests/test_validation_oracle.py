"""Our validator against Python's AnsibleModule, the reference it copies.

For each module, the argument spec is rebuilt from the module's sidecar
documentation (so the docs are checked against the binary too), a table of
malformed and k=v-style arguments is fed to both the real AnsibleModule and
the built binary, and the failure messages (or the coerced values) must be
identical.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import MODULES, ROOT, run_module

ORACLE = Path(__file__).resolve().parent / "oracle.py"

# Rules that the docs cannot express, mirrored from the Rust specs.
RULES = {
    "pve_cluster_join": {"required_together": [["password", "fingerprint"]]},
}

# (module, args) cases. Booleans' error text lists the valid values in a
# hash-seeded order in Python, so bool failures are compared by prefix.
CASES = [
    ("pve_cluster_status", {"cluster_name": 5}),
    ("pve_cluster_status", {"cluster_nme": "x"}),
    ("pve_cluster_status", {"cluster_name": ["a", "b"]}),
    ("pve_quorum_check", {"expected_nodes": "three"}),
    ("pve_quorum_check", {"expected_nodes": "3", "timeout": "1.0", "interval": "0.5", "expected_members": "a,b"}),
    ("pve_quorum_check", {"require_all_online": "maybe"}),
    ("pve_quorum_check", {"require_all_online": "yes", "timeout": "1.5"}),
    ("pve_quorum_check", {"bogus": 1, "other": 2}),
    ("pve_hosts", {}),
    ("pve_hosts", {"nodes": [{"name": "a"}]}),
    ("pve_hosts", {"nodes": [{"ip": "10.0.0.1", "nmae": "a"}]}),
    ("pve_hosts", {"nodes": "ip=10.0.0.1"}),
    ("pve_hosts", {"nodes": [{"ip": "10.0.0.1"}], "state": "gone"}),
    ("pve_hosts", {"nodes": [{"ip": "10.0.0.1"}], "backup": "no", "verify": "off", "fix_loopback": 0}),
    ("pve_cluster_join", {}),
    ("pve_cluster_join", {"cluster_name": "c", "nodeid": "x"}),
    ("pve_cluster_join", {"cluster_name": "c", "links": [{"priority": 3}]}),
    ("pve_cluster_join", {"cluster_name": "c", "links": "address=10.0.0.1"}),
    ("pve_cluster_join", {"cluster_name": "c", "use_ssh": True, "password": "pw"}),
    ("pve_cluster_join", {"cluster_name": "c", "links": [{"address": "10.0.0.1", "priority": "high"}]}),
    ("pve_cluster_join", {"cluster_name": "c", "links": [{"address": "10.0.0.1", "prio": 1}]}),
    ("pve_cluster_join", {"cluster_name": "c", "votes": [1], "timeout": "1e2"}),
    ("pve_cluster_join", {"cluster_name": "c", "use_ssh": "maybe"}),
    ("pve_corosync_totem", {}),
    ("pve_corosync_totem", {"totem": "token"}),
    ("pve_corosync_totem", {"totem": 5}),
    ("pve_corosync_totem", {"totem": {"token": 3000}, "paths": "/x"}),
    ("pve_hosts", {"nodes": [{"ip": "10.0.0.1", "aliases": {"a": 1}}]}),
    ("pve_hosts", {"nodes": [{"ip": "10.0.0.1", "short_name": "a", "name": "b"}]}),
    ("pve_quorum_check", {"expected_members": {"a": 1}}),
    ("pve_cluster_status", {"node_info": "sometimes"}),
    ("pve_ssh_trust", {"key_type": "dsa"}),
    ("pve_ssh_trust", {"key_bits": "big", "authorized_keys": "ssh-ed25519 AAAA"}),
    ("pve_ssh_trust", {"known_hosts": [{"names": "pve1"}]}),
    ("pve_ssh_trust", {"known_hosts": [{"names": ["pve1"], "key": "k", "port": 22}]}),
    ("pve_ssh_trust", {"known_hosts": "pve1"}),
    ("pve_ssh_trust", {"known_hosts": [5, "names=a"]}),
    ("pve_hosts", {"nodes": 5}),
    ("pve_cluster_join", {"cluster_name": "c", "links": [["10.0.0.1"]]}),
    ("pve_corosync_totem", {"totem": ["token"]}),
    ("pve_cluster_qdevice", {"state": "gone"}),
    ("pve_cluster_qdevice", {"address": "10.0.0.5", "force": "maybe"}),
    ("pve_cluster_qdevice", {"address": "10.0.0.5", "timeout": "soon"}),
    ("pve_cluster_qdevice", {"adress": "10.0.0.5"}),
]


def sidecar_spec(name: str) -> dict:
    doc = yaml.safe_load((ROOT / "plugins" / "modules" / f"{name}.yml").read_text())["DOCUMENTATION"]

    def convert(options: dict) -> dict:
        spec = {}
        for key, opt in (options or {}).items():
            entry = {k: opt[k] for k in ("type", "required", "default", "choices", "elements", "aliases") if k in opt}
            if "suboptions" in opt:
                entry["options"] = convert(opt["suboptions"])
            spec[key] = entry
        return spec

    return convert(doc.get("options"))


def oracle(name: str, args: dict) -> dict:
    case = {"name": name, "spec": sidecar_spec(name), "args": args, "rules": RULES.get(name, {})}
    out = subprocess.run([sys.executable, str(ORACLE), json.dumps(case)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("name,args", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_validation_matches_ansiblemodule(name, args, tmp_path):
    if not (ROOT / "modules" / name).exists():
        pytest.skip(f"{name} is not built in this tree")
    expected = oracle(name, args)
    # Check mode: a valid input then returns before touching the system.
    ours, _, _ = run_module(name, {**args, "_ansible_check_mode": True, "_ansible_module_name": name}, tmp_path,
                            env={"PATH": "/nonexistent"})
    if expected.get("failed"):
        assert ours.get("failed") is True, ours
        if "is not a valid boolean" in expected["msg"]:
            assert ours["msg"].split("Valid booleans")[0] == expected["msg"].split("Valid booleans")[0]
        else:
            assert ours["msg"] == expected["msg"]
    else:
        # Valid input: every option Python coerced must have the same value in our invocation.
        mine = ours["invocation"]["module_args"]
        for key, value in expected["params"].items():
            assert mine.get(key) == value, (key, mine.get(key), value)
