"""pve_cluster_status under real ansible-core: ad hoc with k=v strings,
ansible-doc, a playbook with and without --check and at -vvv, and a failing
node. The pvecm stand-in (tests/standins/pvecm) replays captured output."""

import re

import yaml

from conftest import ROOT, adhoc_result, fixture, module_path, replay_dir, run_ansible

PLAYBOOK = """
- name: Read the cluster state
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Status of this node
      pve_cluster_status:
        cluster_name: krnn
      register: st

    - name: The registered result and the facts agree with the capture
      ansible.builtin.assert:
        that:
          - st is not changed
          - st is not failed
          - st.in_cluster
          - st.corosync_running
          - st.quorate
          - st.in_target_cluster
          - not st.in_other_cluster
          - st.cluster_name == 'krnn'
          - st.node_count == 2
          - st.local_node.name == 'pve02'
          - st.local_node.nodeid == 2
          - ansible_facts.pve_cluster.cluster_name == 'krnn'
          - ansible_facts.pve_cluster.quorate
          - ansible_facts.pve_cluster.in_target_cluster
          - ansible_facts.pve_cluster.nodes | map(attribute='name') | list == ['pve01', 'pve02']

    - name: Quorum with the expected members
      pve_quorum_check:
        cluster_name: krnn
        expected_nodes: 2
        expected_members: [pve01, pve02]
        timeout: 5
        interval: 0.5
      register: q

    - name: The quorum check passed at once
      ansible.builtin.assert:
        that:
          - q is not changed
          - q.healthy
          - q.attempts == 1
          - q.status.quorate
          - q.status.online_count == 2
"""


def healthy_replay(tmp_path):
    # Real PVE 9.2.9 capture: 2-node cluster 'krnn' seen from the joined node
    # (pve02, node id 2), with its `pvecm nodes` table.
    return replay_dir(tmp_path, fixture("status-real-pve9-2node.stdout"), nodes=fixture("nodes-pve9-2node.stdout"))


def recap(stdout: str) -> dict:
    m = re.search(r"^localhost\s*:\s*(.*)$", stdout, re.M)
    assert m, stdout
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def test_adhoc_kv_arguments(tmp_path):
    module_path("pve_cluster_status")
    replay = healthy_replay(tmp_path)
    proc = run_ansible("ansible", ["localhost", "-m", "pve_cluster_status", "-a", "cluster_name=x"], tmp_path, replay)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, result = adhoc_result(proc.stdout)
    assert status == "SUCCESS"
    assert result["changed"] is False
    assert result["in_cluster"] is True
    assert result["cluster_name"] == "krnn"
    assert result["in_target_cluster"] is False
    assert result["in_other_cluster"] is True
    assert result["ansible_facts"]["pve_cluster"]["in_other_cluster"] is True
    assert result["msg"] == "node 'pve02' is in cluster 'krnn': 2 of 2 nodes online, quorate"
    # k=v gives strings; a number-looking name stays the text given.
    proc = run_ansible("ansible", ["localhost", "-m", "pve_cluster_status", "-a", "cluster_name=5"], tmp_path, replay)
    status, result = adhoc_result(proc.stdout)
    assert status == "SUCCESS"
    assert result["in_other_cluster"] is True
    # Each run asked the stand-in: status then nodes.
    assert (replay / "status.calls").read_text().strip() == "2"


def test_adhoc_not_in_cluster_is_success(tmp_path):
    # PVE 9 standalone node: 'Error: Corosync config ... does not exist', rc 2.
    module_path("pve_cluster_status")
    replay = replay_dir(tmp_path, "", status_err=fixture("notcluster-pve9.stderr"), status_rc=2)
    proc = run_ansible("ansible", ["localhost", "-m", "pve_cluster_status"], tmp_path, replay)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status, result = adhoc_result(proc.stdout)
    assert status == "SUCCESS"
    assert result["in_cluster"] is False


def test_adhoc_unknown_option_fails_with_ansible_text(tmp_path):
    module_path("pve_cluster_status")
    replay = healthy_replay(tmp_path)
    proc = run_ansible("ansible", ["localhost", "-m", "pve_cluster_status", "-a", "clustername=x"], tmp_path, replay)
    assert proc.returncode != 0
    status, result = adhoc_result(proc.stdout)
    assert status == "FAILED!"
    assert result["msg"] == (
        "Unsupported parameters for (pve_cluster_status) module: clustername. "
        "Supported parameters include: api_fingerprint, cluster_name, node_info."
    )


def test_ansible_doc_renders(tmp_path):
    module_path("pve_cluster_status")
    proc = run_ansible("ansible-doc", ["pve_cluster_status"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load((ROOT / "plugins" / "modules" / "pve_cluster_status.yml").read_text())
    assert "MODULE pve_cluster_status" in proc.stdout
    for option in doc["DOCUMENTATION"]["options"]:
        assert option in proc.stdout
    for key in ("in_cluster", "quorate"):
        assert key in proc.stdout


def test_playbook_normal_and_check_mode(tmp_path):
    module_path("pve_cluster_status")
    module_path("pve_quorum_check")
    replay = healthy_replay(tmp_path)
    book = tmp_path / "status.yml"
    book.write_text(PLAYBOOK)
    for extra in ([], ["--check"], ["--check", "--diff"]):
        proc = run_ansible("ansible-playbook", [*extra, str(book)], tmp_path, replay)
        assert proc.returncode == 0, f"{extra}: {proc.stdout}{proc.stderr}"
        counts = recap(proc.stdout)
        assert counts["ok"] == 4 and counts["changed"] == 0 and counts["failed"] == 0, (extra, proc.stdout)
        assert counts["skipped"] == 0, (extra, proc.stdout)


def test_playbook_verbose_shows_invocation(tmp_path):
    module_path("pve_cluster_status")
    replay = healthy_replay(tmp_path)
    book = tmp_path / "status.yml"
    book.write_text(PLAYBOOK)
    proc = run_ansible("ansible-playbook", ["-vvv", str(book)], tmp_path, replay)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"invocation": {' in proc.stdout
    assert '"module_args": {' in proc.stdout
    assert '"cluster_name": "krnn"' in proc.stdout
    # The binary really was sent (to the action plugin's cache, new in this
    # test's directory) and run as a module.
    assert re.search(r"pve_tools.cluster: sending the x86_64 binary of pve_cluster_status \(\S+\) to the cache",
                     proc.stdout)


def test_playbook_failure_shows_the_module_message(tmp_path):
    # pve-cluster.service stopped: pvecm cannot load the ACL from pmxcfs.
    module_path("pve_cluster_status")
    replay = replay_dir(tmp_path, "", status_err=fixture("pmxcfs-down.stderr"), status_rc=255)
    book = tmp_path / "status.yml"
    book.write_text(PLAYBOOK)
    proc = run_ansible("ansible-playbook", [str(book)], tmp_path, replay)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "the Proxmox cluster file system is not running ('ipcc_send_rec[1] failed: Connection refused')" in out
    counts = recap(proc.stdout)
    assert counts["failed"] == 1 and counts["ok"] == 0, proc.stdout
