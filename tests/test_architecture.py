"""The invariants ARCHITECTURE.md states, checked on the sources, so that a
change that breaks one fails here instead of in review:

- one door to processes: only `cmd.rs` names `std::process::Command`;
- no import cycles: in every folder of both crates, sibling modules import
  each other in one direction only (the crates themselves are layered by
  cargo: `ansible_module` cannot name `pve_cluster`);
- only the module context grants the permission to change the node
  (`ChangeToken::grant`), which it refuses in check mode;
- the pure layers (`pve/`, `hosts/`, `ssh/`) read no file, run no command and
  open no socket: the modules read, the pure code decides;
- the role decides nothing from message text: no regex tests, no `msg`,
  `stdout` or `stderr` of a result in a condition, and no Jinja expression
  longer than three lines.

Test code (`#[cfg(test)]` modules, `tests/` folders) is not held to them."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "library"


def rust_sources():
    """Every Rust source of the shared crates, without its test module."""
    for path in sorted(LIBRARY.rglob("*.rs")):
        rel = path.relative_to(ROOT)
        if "tests" in rel.parts or path.name in ("tests.rs", "fixtures.rs") or "target" in rel.parts:
            continue
        yield rel, without_tests(path.read_text())


def without_tests(text):
    """The text without its `#[cfg(test)]` items: from the attribute to the
    end of the item's braces (to the end of the file when they do not
    balance), so that code after a test module is still read."""
    while True:
        start = text.find("#[cfg(test)]")
        if start < 0:
            return text
        brace = text.find("{", start)
        semi = text.find(";", start)
        if brace < 0 or 0 <= semi < brace:
            text = text[:start] + text[(semi + 1 if semi >= 0 else len(text)):]
            continue
        depth, end = 0, len(text)
        for i in range(brace, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        text = text[:start] + text[end:]


def code_lines(text):
    """The lines of `text` without line comments and doc comments."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        yield line


def test_the_sources_are_found():
    names = {rel.name for rel, _ in rust_sources()}
    assert {"cmd.rs", "change.rs", "fsutil.rs", "mod.rs"} <= names, names


def test_only_cmd_rs_starts_processes():
    offenders = [str(rel) for rel, text in rust_sources()
                 if rel.name != "cmd.rs" and any("process::Command" in line for line in code_lines(text))]
    assert offenders == [], "std::process::Command outside cmd.rs: %s" % offenders


def test_only_the_module_context_grants_a_change_token():
    granting = [str(rel) for rel, text in rust_sources()
                if any("ChangeToken::grant(" in line for line in code_lines(text))]
    assert len(granting) == 1 and granting[0].endswith("ansible/mod.rs"), granting
    context = next(text for rel, text in rust_sources() if str(rel).endswith("ansible/mod.rs"))
    # The grant sits behind the check-mode test.
    grant_at = context.index("ChangeToken::grant(")
    assert "check_mode" in context[max(0, grant_at - 600):grant_at], context[max(0, grant_at - 600):grant_at]


IO = re.compile(r"\bstd::fs\b|\bfs::|\bFile::|crate::cmd\b|\bstd::process\b|\bTcpStream\b|\bstd::env\b")


def test_the_pure_layers_do_no_io():
    offenders = {}
    for rel, text in rust_sources():
        parts = rel.parts
        if len(parts) < 3 or parts[2] not in ("pve", "hosts", "ssh"):
            continue
        hits = [line.strip() for line in code_lines(text) if IO.search(line)]
        if hits:
            offenders[str(rel)] = hits
    assert offenders == {}, offenders


ROLE = ROOT / "roles" / "proxmox_cluster"
CONDITIONS = ("when", "failed_when", "changed_when", "until", "that")
MESSAGE_TEXT = re.compile(r"\.(msg|stdout|stderr|stdout_lines|stderr_lines)\b|\[['\"](msg|stdout|stderr)['\"]\]")
REGEX_TEST = re.compile(r"\bis\s+(not\s+)?(search|match|regex)\b|regex_search|regex_findall")


def role_tasks():
    for path in sorted(ROLE.rglob("*.yml")):
        yield path.relative_to(ROOT), path.read_text()


def walk(node, key=None):
    """Every (key, string) pair of a YAML document, lists under their key."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    elif isinstance(node, str):
        yield key, node


def test_the_role_files_are_found():
    names = {p.name for p, _ in role_tasks()}
    assert {"main.yml", "prerequisites.yml", "join.yml", "verify.yml"} <= names, names


def test_the_role_tests_no_message_text():
    offenders = []
    for rel, text in role_tasks():
        if REGEX_TEST.search(text):
            offenders.append("%s: a regex test" % rel)
        for key, value in walk(yaml.safe_load(text)):
            if key in CONDITIONS and MESSAGE_TEXT.search(value):
                offenders.append("%s: %s: %s" % (rel, key, value))
    assert offenders == [], offenders


def test_no_jinja_expression_in_the_role_is_longer_than_three_lines():
    offenders = []
    for rel, text in role_tasks():
        for m in re.finditer(r"\{\{.*?\}\}|\{%.*?%\}", text, re.S):
            if m.group(0).count("\n") >= 3:
                offenders.append("%s:%d" % (rel, text[:m.start()].count("\n") + 1))
    assert offenders == [], offenders


CRATES = {"pve_cluster": LIBRARY / "src", "ansible_module": LIBRARY / "ansible_module" / "src"}
PATH_REF = re.compile(r"\b(crate|super)((?:::\w+)+)")
USE = re.compile(r"\buse\s+((?:crate|super)::[^;]+);", re.S)


def module_path(src, path):
    """The module path of a source file: lib.rs is [], a/mod.rs and a.rs are [a]."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("lib", "mod"):
        parts.pop()
    return parts


def expand(use):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d']."""
    use = re.sub(r"\s+", "", use)
    m = re.match(r"^(.*?)\{(.*)\}$", use)
    if not m:
        return [use]
    prefix, inner = m.groups()
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += (ch == "{") - (ch == "}")
        cur += ch
    items.append(cur)
    return [p for item in items if item for p in expand(prefix + item)]


def references(text):
    """Every crate:: or super:: path the code names, `use` lists expanded."""
    code = "\n".join(code_lines(text))
    refs = [p for u in USE.findall(code) for p in expand(u)]
    refs += [m.group(1) + m.group(2) for m in PATH_REF.finditer(USE.sub("", code))]
    return refs


def module_edges(crate):
    """(level, from, to): module `from` names sibling module `to`, both children of `level`."""
    src = CRATES[crate]
    files = {tuple(module_path(src, p)): p for p in src.rglob("*.rs")
             if p.name not in ("tests.rs", "fixtures.rs")}
    edges = set()
    for here, path in files.items():
        for ref in references(without_tests(path.read_text())):
            segs = ref.split("::")
            if segs[0] == "crate":
                target = segs[1:]
            else:
                base = list(here)
                while segs and segs[0] == "super":
                    base = base[:-1]
                    segs = segs[1:]
                target = base + segs
            common = 0
            while common < min(len(here), len(target)) and here[common] == target[common]:
                common += 1
            if common < len(here) and common < len(target):
                level = tuple(target[:common])
                if level + (target[common],) in files:
                    edges.add((level, here[common], target[common]))
    return edges


def cycle(edges):
    """One cycle in the graph of `edges` as a list of nodes, or None."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_the_modules_of_each_folder_import_each_other_in_one_direction():
    for crate in CRATES:
        edges = module_edges(crate)
        # The reading finds the imports it is to judge.
        expected = {"pve_cluster": ((), "modules", "pve"), "ansible_module": ((), "ansible", "cmd")}[crate]
        assert expected in edges, sorted(edges)
        levels = {level for level, _, _ in edges}
        for level in sorted(levels):
            found = cycle({(a, b) for lv, a, b in edges if lv == level})
            assert found is None, "%s::%s: import cycle %s" % (crate, "::".join(level), " -> ".join(found))
