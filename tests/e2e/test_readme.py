"""Every snippet of README.md and roles/proxmox_cluster/README.md, run as
written, on ansible-core 2.19 (the pinned one) and 2.17.

The snippets run in a copy of the checkout (the files git tracks; .venv and
.venv-2.17 linked), with HOME in the test's directory, so nothing they write
lands in the checkout or the machine's home. Kinds of snippet:

* `sh`: run with bash from the copy's root, the chosen ansible-core first on
  PATH. `inventory.yml` there is the test bed's inventory (group `proxmox`,
  and `matrix_cluster` holding the same nodes, as the role README's example
  expects).
* `yaml` starting with `# <file>`: written to that file, used by a later
  `sh` snippet.
* `yaml` that is a play list: run with `ansible-playbook -i inventory.yml`.
* `yaml` that is a mapping of `pve_cluster_*` variables: checked against the
  role's argument spec (meta/argument_specs.yml) with validate_argument_spec.

`scripts/test` is not run here: it is what runs this test (CI's `.ci/run`).
`scripts/demo` runs on a bed of its own. Since the copy has no bin/, its
scripts/build and scripts/dist build every binary again from sources at
another path (in the checkout's target directory, so that only the
dependencies are not compiled again): the test then checks that they have
the same bytes as the checkout's (the builds are reproducible).

Runs as root. Beds: prefix `rme`, subnet 10.93.4 (the snippets) and `rdm`,
10.93.5 (the demo); removed in finalizers also when a test fails.

    scripts/dist && pytest tests/e2e/test_readme.py
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bed import ROOT, TB, Bed, recap

PREFIX, NET = "rme", "10.93.4"
DEMO_PREFIX, DEMO_NET = "rdm", "10.93.5"
READMES = [ROOT / "README.md", ROOT / "roles" / "proxmox_cluster" / "README.md"]
VENVS = {"core-2.19": ROOT / ".venv" / "bin", "core-2.17": ROOT / ".venv-2.17" / "bin"}
SELF = "scripts/test"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the test bed needs root"),
    pytest.mark.skipif(not TB.exists(), reason="testbed/tb is not in this tree"),
]


def snippets(readme: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", readme.read_text(), re.M | re.S)


def kind(lang: str, text: str) -> str:
    if lang == "sh":
        return "self" if text.split("#")[0].strip() == SELF else "sh"
    if lang == "yaml":
        first = text.splitlines()[0]
        if re.match(r"^# [\w.-]+\.ya?ml$", first):
            return "file"
        data = yaml.safe_load(text)
        if isinstance(data, list) and all(isinstance(p, dict) and "hosts" in p for p in data):
            return "play"
        if isinstance(data, dict) and data and all(k.startswith("pve_cluster_") for k in data):
            return "vars"
    raise AssertionError(f"a snippet of no known kind ({lang}): {text[:200]!r}")


def test_every_snippet_is_of_a_kind_this_test_runs():
    kinds = [kind(lang, text) for readme in READMES for lang, text in snippets(readme)]
    # Two plays, both in the role README: the formation and the empty-group check; the main README's
    # playbook is a file (site.yml) that its next snippet runs.
    assert kinds.count("self") == 1 and kinds.count("play") == 2 and kinds.count("file") == 1
    assert kinds.count("vars") == 3 and kinds.count("sh") == 4, kinds


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """The tracked files of the checkout, elsewhere, with its venvs linked."""
    dest = tmp_path_factory.mktemp("checkout")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        src = ROOT / name
        if name and (src.exists() or src.is_symlink()):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-d", "--preserve=mode", str(src), str(dest / name)], check=True)
    for venv in (".venv", ".venv-2.17"):
        if (ROOT / venv).exists():
            (dest / venv).symlink_to(ROOT / venv)
    (dest / "home").mkdir()
    # scripts/dist ships what git tracks: the copy is a repository of its own.
    subprocess.run("git init -q && git add -A && git -c user.name=test -c user.email=test@localhost commit -qm copy",
                   shell=True, cwd=dest, check=True)
    return dest


def env_for(copy: Path, venv: str, prefix=PREFIX, net=NET) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "TB_"))}
    # HOME moves; Rust's toolchain and crates stay where they are. The
    # checkout's target directory serves the copy too: the dependencies are
    # not compiled again; the project's own crates are (their sources are at
    # another path), and all twelve binaries are linked again.
    env.setdefault("RUSTUP_HOME", str(Path.home() / ".rustup"))
    env.setdefault("CARGO_HOME", str(Path.home() / ".cargo"))
    env["CARGO_TARGET_DIR"] = str(ROOT / "target")
    env.update(PATH=os.pathsep.join([str(VENVS[venv]), env.get("PATH", "")]), HOME=str(copy / "home"),
               TB_PREFIX=prefix, TB_NET=net, TB_QUIET="1", ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    return env


def sh(copy: Path, env: dict, text: str, timeout=1800):
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", text], cwd=copy, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"snippet failed rc={r.returncode}:\n{text}\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    return r


def test_the_demo_runs_as_written(copy, request):
    (block,) = [t for lang, t in snippets(ROOT / "README.md") if lang == "sh" and "scripts/demo" in t]
    env = env_for(copy, "core-2.19", DEMO_PREFIX, DEMO_NET)
    # The demo removes its bed itself; this also does when it was killed.
    request.addfinalizer(lambda: subprocess.run([str(TB), "down"], env=env, capture_output=True, timeout=300))
    r = sh(copy, env, block)
    assert "second run: 0 changes on every node" in r.stdout


@pytest.fixture(scope="module")
def bed(request, copy, tmp_path_factory):
    b = Bed(PREFIX, NET, tmp_path_factory.mktemp(PREFIX), nodes=3, hosts="iso")
    request.addfinalizer(b.down)
    b.up()
    inventory = yaml.safe_load(Path(b.inventory).read_text())
    proxmox = inventory["all"]["children"]["proxmox"]
    proxmox["children"] = {"matrix_cluster": {"hosts": {name: {} for name in proxmox["hosts"]}}}
    (copy / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return b


def run_readme(readme: Path, copy: Path, venv: str, kinds=("file", "sh", "play", "vars")):
    env = env_for(copy, venv)
    for lang, text in snippets(readme):
        what = kind(lang, text)
        if what not in kinds:
            continue
        if what == "file":
            (copy / text.splitlines()[0][2:]).write_text(text)
        elif what == "sh" and "scripts/demo" not in text:
            sh(copy, env, text)
        elif what == "play":
            book = copy / "readme-play.yml"
            book.write_text(text)
            r = subprocess.run(["ansible-playbook", "-i", "inventory.yml", str(book)], cwd=copy, env=env,
                               capture_output=True, text=True, timeout=1800)
            assert r.returncode == 0, f"{text}\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
            assert all(c["failed"] == 0 for c in recap(r.stdout).values()), r.stdout
        elif what == "vars":
            validate_role_vars(copy, env, yaml.safe_load(text))


def validate_role_vars(copy: Path, env: dict, variables: dict):
    """The role's own argument spec accepts the variables as written."""
    spec = yaml.safe_load((copy / "roles/proxmox_cluster/meta/argument_specs.yml").read_text())
    book = copy / "readme-vars.yml"
    book.write_text(yaml.safe_dump([{
        "name": "Role variables of the README", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Check them against the role's argument spec",
                   "ansible.builtin.validate_argument_spec": {
                       "argument_spec": spec["argument_specs"]["main"]["options"],
                       "provided_arguments": {"pve_cluster_name": "Matrix", **variables}}}]}]))
    r = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(book)], cwd=copy, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{variables}\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"


@pytest.mark.parametrize("venv", list(VENVS))
def test_the_readme_runs_as_written(copy, bed, venv):
    if not VENVS[venv].exists():
        pytest.skip(f"{VENVS[venv]} is missing: run scripts/setup")
    run_readme(READMES[0], copy, venv)
    # The binaries the copy built are those of the checkout: reproducible.
    assert (copy / "bin" / "SHA256SUMS").read_text() == (ROOT / "bin" / "SHA256SUMS").read_text()


@pytest.mark.parametrize("venv", list(VENVS))
def test_the_role_readme_runs_as_written(copy, bed, venv):
    """Its variables and commands; its play is the next test."""
    if not VENVS[venv].exists():
        pytest.skip(f"{VENVS[venv]} is missing: run scripts/setup")
    run_readme(READMES[1], copy, venv, kinds=("vars", "sh"))


@pytest.mark.parametrize("venv", list(VENVS))
def test_the_role_readmes_play_runs_as_written(copy, bed, venv):
    if not VENVS[venv].exists():
        pytest.skip(f"{VENVS[venv]} is missing: run scripts/setup")
    run_readme(READMES[1], copy, venv, kinds=("play",))
