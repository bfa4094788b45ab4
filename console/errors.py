"""A use case's refusal, as words beside the field that caused it (or above the form), with the
API's problem code kept on the element for whoever needs it."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.errors import Failure

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
    "verification_required": "Enter the code from your authenticator app.",
    "verification_code_incorrect": "That code is not right, or was used already. Enter the"
    " current code from your authenticator app, or one of your recovery codes.",
    "mfa_enrolment_required": "Your account requires verification: set up an authenticator app"
    " in Settings first.",
    "temporarily_unavailable": "The service is temporarily unavailable: nothing is wrong with"
    " what you did. Wait a moment and try again.",
    "webhooks_unavailable": "Webhooks cannot be set up right now. Try again later.",
    "not_found": "This item does not exist, or you cannot see it.",
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
                errors.add(name, str(error.get("msg") or words))
        if target in fields:
            errors.add(target, words)
        elif not errors.fields:
            errors.form = words
        return errors


def _words(failure: Failure) -> str:
    words = WORDS_OF_CODE.get(failure.code) or failure.detail
    seconds = failure.retry_after_seconds
    if failure.code in ("verification_locked", "sign_in_locked", "rate_limited") and seconds:
        minutes = max(1, round(seconds / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return f"{_first_sentence(failure.detail)} Try again in about {minutes} {unit}."
    return words


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return head + (dot.strip() or "")
