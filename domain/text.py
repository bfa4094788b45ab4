"""A sentence for a person, written before anyone knows who will read it (`Text`).

The domain words what it decides (a refused decision, an account-check item, a notification)
and cannot know in which language it will be read: a Text is its English — it is a `str`, so
code that compares, logs or stores it as English still can — plus its message id and its
parameters, so that whoever shows it to a person renders it in their language (`Text.to`).

Pure: a Text renders with whatever translates a message id (`Text.render`); the catalogues
themselves are files, which the domain does not read. assocflow/i18n.py, which holds them, lends
them to `Text.to` when it is imported (`lend_catalogues`), and re-exports this class as its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

# A message id in a language: (language, message id) -> the words.
Catalogues = Callable[[str, str], str]


def _no_catalogues(language: str, msgid: str) -> str:
    raise LookupError(
        f"no catalogues to read {msgid!r} in {language!r}: assocflow.i18n lends them when imported"
    )


_catalogues: Catalogues = _no_catalogues


def lend_catalogues(catalogues: Catalogues) -> None:
    """Where `Text.to` finds a message id's words in a language (assocflow/i18n.py's gettext
    catalogues): set once, when that module is imported."""
    global _catalogues
    _catalogues = catalogues


class Text(str):
    """A sentence for a person: its English (it is a str), its message id and its parameters
    (`{name}` placeholders), to be rendered in the reader's language. Parameters that are Texts
    themselves are rendered in the same language."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Self:
        english = msgid.format(**params) if params else msgid
        made = super().__new__(cls, english)
        made.msgid = msgid
        made.params = params
        return made

    def render(self, translate: Callable[[str], str]) -> str:
        """The sentence with each message id (its own, its Text parameters') as `translate`
        gives it."""
        params = {
            name: value.render(translate) if isinstance(value, Text) else value
            for name, value in self.params.items()
        }
        words = translate(self.msgid)
        return words.format(**params) if params else words

    def to(self, language: str) -> str:
        """The sentence as people of `language` read it."""
        return self.render(lambda msgid: _catalogues(language, msgid))
