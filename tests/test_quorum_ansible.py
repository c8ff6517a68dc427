"""pve_quorum_check under real ansible-core: ad hoc with k=v strings,
ansible-doc, check mode, a cluster regaining quorum while the task waits,
and a non-quorate cluster failing with the module's message. The pvecm
stand-in (tests/standins/pvecm) replays captured output."""

import re

import yaml

from conftest import ROOT, adhoc_result, fixture, module_path, replay_dir, run_ansible


def healthy_replay(tmp_path):
    # PVE 8 5-node cluster 'Matrix', all online, seen from node 3 (charlie).
    return replay_dir(tmp_path, fixture("status-pve8-5node.stdout"), nodes=fixture("nodes-pve8-5node.stdout"))


def not_quorate_files(replay, call=None):
    # PVE 8 3-node cluster 'Matrix' with two nodes down: corosync-quorumtool exits 2.
    base = "status" if call is None else f"status.{call}"
    (replay / f"{base}.stdout").write_text(fixture("status-pve8-3node-1up-nonquorate.stdout"))
    (replay / f"{base}.stderr").write_text("")
    (replay / f"{base}.rc").write_text("2")
    nodes = "nodes" if call is None else f"nodes.{call}"
    (replay / f"{nodes}.stdout").write_text(fixture("nodes-pve8-3node-1up.stdout"))


def recap(stdout: str) -> dict:
    m = re.search(r"^localhost\s*:\s*(.*)$", stdout, re.M)
    assert m, stdout
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def test_adhoc_kv_strings_are_coerced(tmp_path):
    module_path("pve_quorum_check")
    replay = healthy_replay(tmp_path)
    args = "cluster_name=Matrix timeout=3 interval=0.5 require_all_online=no expected_members=alpha,echo expected_nodes=5"
    # -vvv: the default callback shows `invocation` only from that verbosity on.
    proc = run_ansible("ansible", ["-vvv", "localhost", "-m", "pve_quorum_check", "-a", args], tmp_path, replay)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, result = adhoc_result(proc.stdout)
    assert status == "SUCCESS"
    assert result["healthy"] is True
    assert result["attempts"] == 1
    assert result["changed"] is False
    assert result["invocation"]["module_args"] == {
        "cluster_name": "Matrix",
        "expected_nodes": 5,
        "expected_members": ["alpha", "echo"],
        "require_all_online": False,
        "timeout": 3,
        "interval": 0.5,
    }


def test_adhoc_not_quorate_fails_with_the_reason(tmp_path):
    # Without /etc/pve/corosync.conf (not a PVE node) the offline nodes are counted, not named.
    module_path("pve_quorum_check")
    replay = replay_dir(tmp_path, "")
    not_quorate_files(replay)
    proc = run_ansible("ansible", ["localhost", "-m", "pve_quorum_check", "-a", "timeout=0"], tmp_path, replay)
    assert proc.returncode != 0
    status, result = adhoc_result(proc.stdout)
    assert status == "FAILED!"
    assert result["msg"].startswith("cluster 'Matrix' is not quorate: 1 of 3 votes present, 2 needed (still so after ")
    assert result["healthy"] is False
    assert result["attempts"] == 1
    assert "Module failed: cluster 'Matrix' is not quorate" in proc.stdout + proc.stderr


def test_ansible_doc_renders(tmp_path):
    module_path("pve_quorum_check")
    proc = run_ansible("ansible-doc", ["pve_quorum_check"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((ROOT / "plugins" / "modules" / "pve_quorum_check.yml").read_text())
    assert "MODULE pve_quorum_check" in proc.stdout
    options = doc["DOCUMENTATION"]["options"]
    assert set(options) == {"cluster_name", "expected_nodes", "expected_members", "require_all_online", "timeout", "interval"}
    for option in options:
        assert option in proc.stdout


PLAYBOOK = """
- name: Wait for quorum
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Quorum check
      pve_quorum_check:
        cluster_name: Matrix
        expected_members: [alpha, charlie]
        timeout: 60
        interval: 0.2
      register: q

    - name: It passed without waiting out its timeout
      ansible.builtin.assert:
        that:
          - q is not changed
          - q.healthy
          - q.attempts == {attempts}
          - q.waited < 30
          - q.status.quorate
          - q.status.node_count == 5
"""


def test_playbook_with_and_without_check(tmp_path):
    module_path("pve_quorum_check")
    replay = healthy_replay(tmp_path)
    book = tmp_path / "quorum.yml"
    book.write_text(PLAYBOOK.format(attempts=1))
    for extra in ([], ["--check"]):
        proc = run_ansible("ansible-playbook", [*extra, str(book)], tmp_path, replay)
        assert proc.returncode == 0, f"{extra}: {proc.stdout}{proc.stderr}"
        counts = recap(proc.stdout)
        assert counts["ok"] == 2 and counts["changed"] == 0 and counts["skipped"] == 0, (extra, proc.stdout)


def test_playbook_quorum_regained_mid_wait(tmp_path):
    # Two reads find the cluster without quorum, the third finds it quorate.
    module_path("pve_quorum_check")
    replay = healthy_replay(tmp_path)
    not_quorate_files(replay, 1)
    not_quorate_files(replay, 2)
    book = tmp_path / "quorum.yml"
    book.write_text(PLAYBOOK.format(attempts=3))
    proc = run_ansible("ansible-playbook", ["-vvv", str(book)], tmp_path, replay)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (replay / "status.calls").read_text().strip() == "3"
    assert '"invocation": {' in proc.stdout and '"module_args": {' in proc.stdout
    assert recap(proc.stdout)["changed"] == 0
