"""docs/SECURITY.md names, for each control, the test that shows it: each named test exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_REFERENCE = re.compile(r"`(tests/[^`:]+\.py)(?:::(\w+))?`")


def test_every_test_named_in_security_md_exists():
    references = TEST_REFERENCE.findall((ROOT / "docs" / "SECURITY.md").read_text())
    assert len(references) >= 20
    missing = []
    for path, name in references:
        source = ROOT / path
        if not source.exists():
            missing.append(path)
        elif name and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert missing == []
