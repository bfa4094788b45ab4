"""A use case's refusal, as words beside the field that caused it (or above the form), with the
API's problem code kept on the element for whoever needs it.

The words are kept as they came (a use case's Text, the console's Words, or a plain str) and said
in the page's language where the page shows them (`| t`, console/language.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from application.errors import Failure
from assocflow import i18n
from console.language import N_, Words

# Which form field a refusal belongs beside; the rest are said above the form.
FIELD_OF_CODE = {
    "verification_required": "verification_code",
    "verification_code_incorrect": "verification_code",
    "verification_code_expired": "verification_code",
    "verification_locked": "verification_code",
    "mfa_enrolment_required": "verification_code",
    "sign_in_failed": "password",
    "password_rejected": "password",
    "email_taken": "email",
}

# Words for people where the use case's own speak of the API.
WORDS_OF_CODE = {
    "verification_required": N_("Enter the code from your authenticator app."),
    "verification_code_incorrect": N_(
        "That code is not right, or was used already. Enter the current code from your"
        " authenticator app, or one of your recovery codes."
    ),
    "mfa_enrolment_required": N_(
        "Your account requires verification: set up an authenticator app in Settings first."
    ),
    "temporarily_unavailable": N_(
        "The service is temporarily unavailable: nothing is wrong with what you did. Wait a"
        " moment and try again."
    ),
    "webhooks_unavailable": N_("Webhooks cannot be set up right now. Try again later."),
    "not_found": N_("This item does not exist, or you cannot see it."),
}


@dataclass
class FormErrors:
    """Errors to show: by field name, and for the form as a whole."""

    fields: dict[str, str] = field(default_factory=dict)
    form: str | None = None
    code: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.form)

    def add(self, name: str, words: str) -> None:
        self.fields.setdefault(name, words)

    @classmethod
    def of(cls, failure: Failure, fields: tuple[str, ...] = ()) -> FormErrors:
        """The words for `failure`, beside its field if the form has that field."""
        words = _words(failure)
        errors = cls(code=failure.code)
        target = FIELD_OF_CODE.get(failure.code)
        for error in failure.extra.get("errors", []) or []:
            loc = error.get("loc") or []
            name = str(loc[-1]) if loc else ""
            if name in fields:
                errors.add(name, error.get("msg") or words)
        if target in fields:
            errors.add(target, words)
        elif not errors.fields:
            errors.form = words
        return errors


def _words(failure: Failure) -> str:
    words = WORDS_OF_CODE.get(failure.code) or failure.detail
    seconds = failure.retry_after_seconds
    if failure.code in ("verification_locked", "sign_in_locked", "rate_limited") and seconds:
        return Paused(failure.detail, max(1, round(seconds / 60)))
    return words


class Paused(Words):
    """A lock's or a limit's refusal, with when to try again in whole minutes: the use case's
    first sentence, then the minutes as people count them."""

    detail: str

    def __new__(cls, detail: str, minutes: int) -> Paused:
        later = _ONE_MINUTE if minutes == 1 else _MINUTES
        made = super().__new__(cls, later.msgid, first=_first_sentence(detail), minutes=minutes)
        made.detail = detail
        return made

    def to(self, language: str) -> str:
        first = _first_sentence(i18n.in_language(self.detail, language))
        return Words(self.msgid, first=first, minutes=self.params["minutes"]).to(language)


# The minutes to wait, after the refusal's first sentence.
_ONE_MINUTE = N_("{first} Try again in about 1 minute.")
_MINUTES = N_("{first} Try again in about {minutes} minutes.")


def _first_sentence(text: str) -> str:
    """Up to the first full stop (Chinese's too)."""
    for stop in (". ", "。"):
        head, found, _ = text.partition(stop)
        if found:
            return head + found.strip()
    return text
