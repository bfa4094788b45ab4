"""The languages people read assocflow in: English and Simplified Chinese.

- Which language: the person's own choice, else the first language of the browser's
  `Accept-Language` we have, else English (`negotiate`).
- The words: gettext catalogues made with Babel (`pybabel extract/update/compile`), one domain per
  audience: `console` (the console's pages, console/) and `assocflow` (what the use cases say:
  problem documents' words, account-check items, the message center's notifications; domain/,
  application/, api/). The `.po` files are the source (assocflow/locale/<dir>/LC_MESSAGES/); the
  `.mo` files are compiled from them by the install step (`make catalogues`) and never committed.
- A sentence written far from any request (a use case's refusal, a notification) is a `Text`: its
  English, plus its message id and parameters, so that whoever shows it to a person renders it in
  their language (`Text.to`), and code that compares it as a string still can.
- Moments and numbers are formatted for the language by Babel; times stay in UTC, with the zone
  named.
"""

from __future__ import annotations

import functools
import gettext as gettext_module
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal
from babel.support import Translations

from domain.text import Text as Text  # the class is the domain's: it words what it decides
from domain.text import lend_catalogues

ENGLISH = "en"
CHINESE = "zh-Hans"
# Each language by its tag (BCP 47, as `<html lang>` and Accept-Language have it), in its own
# words for the switcher.
LANGUAGES: dict[str, str] = {ENGLISH: "English", CHINESE: "简体中文"}
DEFAULT_LANGUAGE = ENGLISH
DOMAINS = ("console", "assocflow")
CATALOGUES = Path(__file__).resolve().parent / "locale"
# Where each language's catalogues live, and the locale Babel formats it with.
_DIRECTORY = {ENGLISH: "en", CHINESE: "zh_Hans"}
_LOCALE = {ENGLISH: Locale.parse("en"), CHINESE: Locale.parse("zh_Hans_CN")}


def supported(tag: str | None) -> str | None:
    """The language of `tag` we have ("zh-CN", "zh-hans-cn", "zh" are Simplified Chinese;
    "en-GB" English); None for one we do not have. Traditional Chinese (zh-Hant, zh-TW, zh-HK)
    is not Simplified Chinese."""
    if not tag:
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "en":
        return ENGLISH
    if parts[0] == "zh":
        rest = set(parts[1:])
        if rest & {"hant", "tw", "hk", "mo"}:
            return None
        return CHINESE
    return None


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The person's own choice, else the browser's first language we have (by its q-values),
    else English."""
    return supported(chosen) or _from_header(accept_language) or DEFAULT_LANGUAGE


def _from_header(header: str | None) -> str | None:
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > 0 and (language := supported(tag)):
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


@functools.cache
def translations(language: str, domain: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of `domain` in `language` (English is the source: none needed).
    A missing catalogue is an error, not English in disguise: `make catalogues` compiles them."""
    if language == ENGLISH:
        return gettext_module.NullTranslations()
    directory = CATALOGUES / _DIRECTORY[language] / "LC_MESSAGES"
    if not (directory / f"{domain}.mo").exists():
        raise FileNotFoundError(
            f"{directory / f'{domain}.mo'} is missing: run `make catalogues` (pybabel compile)"
        )
    return Translations.load(str(CATALOGUES), [_DIRECTORY[language]], domain)


def gettext(language: str, message: str, domain: str = "assocflow", **params: Any) -> str:
    """`message` in `language`, with `params` put in (`{name}` placeholders)."""
    translated = translations(language, domain).gettext(message)
    return translated.format(**params) if params else translated


def ngettext(
    language: str, singular: str, plural: str, count: int, domain: str = "assocflow", **params: Any
) -> str:
    translated = translations(language, domain).ngettext(singular, plural, count)
    return translated.format(count=count, **params)


# The domain's Texts render with these catalogues (`Text.to`): the domain reads no files.
lend_catalogues(lambda language, msgid: translations(language, "assocflow").gettext(msgid))


def in_language(words: str, language: str) -> str:
    """Words as `language` reads them: a Text translated, anything else as it is."""
    return words.to(language) if isinstance(words, Text) else words


def moment(at: datetime, language: str) -> str:
    """A moment as people of `language` read it, in UTC with the zone named:
    2026-11-27 14:05:09 UTC, 2026年11月27日 14:05:09 UTC."""
    at = at.astimezone(UTC)
    if language == ENGLISH:
        return at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{format_datetime(at, 'medium', tzinfo=UTC, locale=_LOCALE[language])} UTC"


def number(value: float, language: str) -> str:
    """A number as `language` writes it (1,234 in both, but per the locale's rules)."""
    return format_decimal(value, locale=_LOCALE[language])


def html_lang(language: str) -> str:
    """The `lang` attribute of a page in `language`."""
    return language
