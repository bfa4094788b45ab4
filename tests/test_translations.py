"""Every word a person reads has its Simplified Chinese (assocflow/i18n.py): the words extracted
from the code now (pybabel extract, as `make translations` does) are each translated in the
catalogue, keep their placeholders, and the compiled catalogues are those of their sources."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from assocflow import i18n

ROOT = Path(__file__).resolve().parent.parent
PYBABEL = Path(sys.executable).with_name("pybabel")
PLACEHOLDER = re.compile(r"\{(\w*)\}|%\((\w+)\)s")


def source_catalogue(domain: str) -> Catalog:
    with (i18n.CATALOGUES / "zh_Hans" / "LC_MESSAGES" / f"{domain}.po").open("rb") as po:
        return read_po(po)


def extracted(domain: str, tmp_path: Path) -> Catalog:
    template = tmp_path / f"{domain}.pot"
    subprocess.run(
        [str(PYBABEL), "-q", "extract", "-F", f"babel-{domain}.cfg", "-k", "Text", "-k", "N_",
         "--no-location", "-o", str(template), "."],
        cwd=ROOT, check=True,
    )  # fmt: skip
    with template.open("rb") as pot:
        return read_po(pot)


def ids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple | list) else [message.id]


def strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_every_word_a_person_reads_has_its_chinese(domain, tmp_path):
    catalogue = source_catalogue(domain)
    missing = []
    for message in extracted(domain, tmp_path):
        if not message.id:
            continue
        found = catalogue.get(message.id)
        if found is None or found.fuzzy or not all(strings(found)):
            missing.append(ids(message)[0])
    assert missing == [], f"untranslated in {domain} (make translations, then translate): {missing}"


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_translations_keep_their_placeholders(domain):
    wrong = []
    for message in source_catalogue(domain):
        if not message.id or not message.string:
            continue
        wanted = {name for pair in PLACEHOLDER.findall(ids(message)[-1]) for name in pair if name}
        for string in strings(message):
            got = {name for pair in PLACEHOLDER.findall(string) for name in pair if name}
            if got != wanted:
                wrong.append((ids(message)[0], string))
    assert wrong == []


@pytest.mark.parametrize("domain", i18n.DOMAINS)
def test_the_compiled_catalogues_are_their_sources(domain):
    compiled = i18n.CATALOGUES / "zh_Hans" / "LC_MESSAGES" / f"{domain}.mo"
    assert compiled.exists(), "make catalogues compiles them"
    with compiled.open("rb") as mo:
        built = {ids(m)[0]: strings(m) for m in read_mo(mo) if m.id}
    source = {ids(m)[0]: strings(m) for m in source_catalogue(domain) if m.id and not m.fuzzy}
    assert built == source, "a .po changed since it was compiled: make catalogues"


def test_no_compiled_catalogue_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


def test_the_language_is_the_persons_choice_else_the_browsers_else_english():
    assert i18n.negotiate("zh-Hans", "en-GB,en;q=0.9") == "zh-Hans"
    assert i18n.negotiate(None, "fr-FR, zh-CN;q=0.8, en;q=0.5") == "zh-Hans"
    assert i18n.negotiate(None, "en;q=0.5, zh;q=0.9") == "zh-Hans"
    assert i18n.negotiate(None, "zh-TW, fr") == "en"  # Traditional Chinese is not ours
    assert i18n.negotiate(None, "de, zh;q=0") == "en"
    assert i18n.negotiate("klingon", None) == "en"
