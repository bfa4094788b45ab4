"""Each person's virtual MFA: enrol an authenticator app, confirm it, see whether one is on."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import App, Party
from api.schemas import Body
from application import mfa

router = APIRouter(prefix="/v1/mfa", tags=["mfa"])


class MfaStatus(BaseModel):
    enrolled: bool
    confirmed_at: datetime | None
    recovery_codes_left: int


class Enrolment(BaseModel):
    otpauth_uri: str = Field(description="For the authenticator app; shown only in this response.")
    qr_svg: str = Field(description="The same as a QR code (SVG), to scan.")


class Confirmation(Body):
    code: str = Field(min_length=6, max_length=32, description="The app's current code.")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="Ten single-use codes for when the app is lost; shown only in this response."
    )


@router.get("/enrolment", response_model=MfaStatus, operation_id="getMfaEnrolment")
async def status(who: Party, app: App) -> MfaStatus:
    """Whether the calling person has a confirmed authenticator, and how many recovery codes
    are left."""
    found = await mfa.status(app, who)
    return MfaStatus(
        enrolled=found.enrolled,
        confirmed_at=found.confirmed_at,
        recovery_codes_left=found.recovery_codes_left,
    )


@router.post(
    "/enrolment", status_code=201, response_model=Enrolment, operation_id="startMfaEnrolment"
)
async def enrol(who: Party, app: App, response: Response) -> Enrolment:
    """Start enrolling: a new secret for your authenticator app. Confirm it with a first code."""
    started = await mfa.begin_enrolment(app, who)
    response.headers["Cache-Control"] = "no-store"
    return Enrolment(otpauth_uri=started.otpauth_uri, qr_svg=started.qr_svg)


@router.post("/enrolment/confirm", response_model=RecoveryCodes, operation_id="confirmMfaEnrolment")
async def confirm(body: Confirmation, who: Party, app: App, response: Response) -> RecoveryCodes:
    """Confirm with the app's current code; answers with ten recovery codes, once."""
    codes = await mfa.confirm_enrolment(app, who, body.code)
    response.headers["Cache-Control"] = "no-store"
    return RecoveryCodes(recovery_codes=codes)
