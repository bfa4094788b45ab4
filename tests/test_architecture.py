"""Dependencies run one way: every import the code makes is one docs/ARCHITECTURE.md allows.

The table between `<!-- imports:start -->` and `<!-- imports:end -->` is the rule: a row names a
package or module and what it may import; the most specific row applies; anything not listed is
refused.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_CODE = {"tests", "docs", "deploy", "build", "examples"}


def first_party(root: Path) -> set[str]:
    """assocflow's top-level packages and modules."""
    names = {p.stem for p in root.glob("*.py")}
    names |= {
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in NOT_CODE
    }
    return names


def table(root: Path, name: str) -> dict[str, set[str]]:
    """The rows of docs/ARCHITECTURE.md's table `name` (between `<!-- name:start -->` and
    `<!-- name:end -->`): each package, and the names in backticks its second cell gives before
    any parenthesis (which explains, and may name more)."""
    text = (root / "docs" / "ARCHITECTURE.md").read_text()
    rows = text.split(f"<!-- {name}:start -->")[1].split(f"<!-- {name}:end -->")[0]
    found = {}
    for line in rows.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            found[cells[0].strip("`")] = set(re.findall(r"`([\w.]+)`", cells[1].split("(")[0]))
    return found


def rules(root: Path) -> dict[str, set[str]]:
    return table(root, "imports")


def module_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def imports_of(root: Path, path: Path, ours: set[str]) -> set[str]:
    """The first-party modules `path` imports (`from store import rows` is `store.rows`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                as_path = root.joinpath(*candidate.split("."))
                is_module = as_path.with_suffix(".py").exists() or as_path.is_dir()
                found.add(candidate if is_module else node.module)
    return {name for name in found if name.split(".")[0] in ours}


def code_files(root: Path, ours: set[str]) -> list[Path]:
    return sorted(
        path
        for name in ours
        for path in ([root / f"{name}.py"] if (root / f"{name}.py").exists() else (root / name).rglob("*.py"))
    )  # fmt: skip


def row_for(module: str, table: dict[str, set[str]]) -> str | None:
    matching = [key for key in table if within(module, key)]
    return max(matching, key=len) if matching else None


def violations(root: Path = ROOT) -> list[str]:
    ours, table = first_party(root), rules(root)
    found = []
    for path in code_files(root, ours):
        module = module_of(root, path)
        row = row_for(module, table)
        if row is None:
            found.append(f"{module}: no row in docs/ARCHITECTURE.md says what it may import")
            continue
        for imported in sorted(imports_of(root, path, ours)):
            allowed = table[row] | {row}
            if not any(within(imported, prefix) for prefix in allowed):
                found.append(
                    f"{module} imports {imported} ({row!r} may import {sorted(table[row]) or 'nothing'})"
                )
    return found


def test_every_import_is_one_the_architecture_allows():
    assert violations() == []


def forbidden(root: Path) -> dict[str, set[str]]:
    """Each package and the third-party packages it may not import."""
    return table(root, "forbidden")


def third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def forbidden_imports(root: Path = ROOT) -> list[str]:
    found = []
    for package, banned in forbidden(root).items():
        for path in sorted((root / package).rglob("*.py")):
            for name in sorted(third_party_imports(path) & banned):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


def test_no_layer_uses_a_package_it_must_not():
    assert forbidden(ROOT)["application"] >= {"temporalio"}
    assert forbidden_imports() == []


def test_the_rule_catches_a_temporal_import_in_the_application(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ARCHITECTURE.md").write_text(
        (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    )
    (tmp_path / "application").mkdir()
    (tmp_path / "application" / "late.py").write_text("from temporalio.client import Client\n")
    assert forbidden_imports(tmp_path) == ["application/late.py imports temporalio"]


def test_every_row_is_about_code_that_exists_or_is_planned():
    ours = first_party(ROOT)
    for key in rules(ROOT):
        top = key.split(".")[0]
        assert top in ours or top == "console", f"{key}: no such package"


def test_a_forbidden_import_is_found(tmp_path):
    """The check sees an import the table does not allow: here the domain reaching the store."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ARCHITECTURE.md").write_text(
        (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    )
    for package, code in {"domain": "from store.db import migrate\n", "store": ""}.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "db.py").write_text(code)
    assert violations(tmp_path) == ["domain.db imports store.db ('domain' may import nothing)"]


def folder_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Which top-level packages each top-level package imports (itself left out)."""
    ours = first_party(root)
    edges: dict[str, set[str]] = {name: set() for name in ours}
    for path in code_files(root, ours):
        top = module_of(root, path).split(".")[0]
        edges[top] |= {name.split(".")[0] for name in imports_of(root, path, ours)} - {top}
    return edges


def folder_loops(root: Path = ROOT) -> list[list[str]]:
    """Every loop of imports between top-level packages (a path back to where it started)."""
    edges, loops = folder_imports(root), []

    def walk(path: list[str]) -> None:
        for following in sorted(edges.get(path[-1], ())):
            if following == path[0]:
                loops.append([*path, following])
            elif following not in path and following > path[0]:
                walk([*path, following])

    for start in sorted(edges):
        walk([start])
    return loops


def test_no_two_folders_import_each_other():
    assert folder_loops() == []


def test_a_loop_between_folders_is_found(tmp_path):
    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"from {other} import thing\n")
    assert folder_loops(tmp_path) == [["alpha", "beta", "alpha"]]
