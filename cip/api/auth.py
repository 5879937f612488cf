"""Account routes: register, confirm, resend, login, forgot and reset password (SPEC §6); the
rules are `cip.accounts.flows`."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import email_validator
from aiohttp import web
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from cip import keys
from cip.accounts import flows
from cip.accounts.identity import GUEST_ID
from cip.http.context import client_ip
from cip.http.jsonio import json_response, parse_json, parse_query
from cip.http.openapi import Response, endpoint

EMAIL_MAX_CHARS = 254


def _normalise_email(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _valid_email(value: str) -> str:
    if len(value) > EMAIL_MAX_CHARS:
        raise ValueError(f"an email address has at most {EMAIL_MAX_CHARS} characters")
    try:
        checked = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return checked.normalized.lower()


Email = Annotated[str, BeforeValidator(_normalise_email), AfterValidator(_valid_email)]
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]
Token = Annotated[str, Field(min_length=1, max_length=256)]


class EmailIn(BaseModel):
    email: Email


class RegisterIn(EmailIn):
    password: NewPassword


class LoginIn(EmailIn):
    password: Annotated[str, Field(min_length=1, max_length=128)]
    guest_user_id: Annotated[str | None, Field(pattern=f"^{GUEST_ID.pattern}$")] = None


class ResetIn(BaseModel):
    token: Token
    password: NewPassword


class TokenQuery(BaseModel):
    token: Token


class NoticeOut(BaseModel):
    message: str


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user_id: str
    tenant_id: UUID


TAG = "accounts"
TENANT_ERRORS: dict[int, Response] = {
    400: "Invalid input",
    404: "Unknown tenant",
}
MAIL_ERRORS: dict[int, Response] = {**TENANT_ERRORS, 429: "Too many requests from this address"}


def _message(text: str, status: int = 200) -> web.Response:
    return json_response(NoticeOut(message=text), status=status)


@endpoint(
    "Register with email and password; the same 202 whether or not the email is taken",
    body=RegisterIn,
    tag=TAG,
    responses={202: NoticeOut, **MAIL_ERRORS},
)
async def register(request: web.Request) -> web.Response:
    body = await parse_json(request, RegisterIn)
    await request.app[keys.ACCOUNTS].register(
        request[keys.TENANT], body.email, body.password, client_ip(request)
    )
    return _message(flows.REGISTER_ACCEPTED, status=202)


async def _confirm(request: web.Request) -> web.Response:
    query = parse_query(request, TokenQuery)
    await request.app[keys.ACCOUNTS].confirm_email(request[keys.TENANT], query.token)
    return _message(flows.EMAIL_CONFIRMED)


@endpoint(
    "Confirm an email with the token from the mail (tenant by slug)",
    query=TokenQuery,
    tag=TAG,
    responses={200: NoticeOut, 400: "Unknown, used or expired token", 404: "Unknown slug"},
)
async def confirm_by_slug(request: web.Request) -> web.Response:
    return await _confirm(request)


@endpoint(
    "Confirm an email with the token from the mail",
    query=TokenQuery,
    tag=TAG,
    responses={200: NoticeOut, 400: "Unknown, used or expired token", 404: "Unknown tenant"},
)
async def confirm_by_id(request: web.Request) -> web.Response:
    return await _confirm(request)


@endpoint(
    "Send a new confirmation link (202 whatever the address)",
    body=EmailIn,
    tag=TAG,
    responses={202: NoticeOut, **MAIL_ERRORS},
)
async def resend_confirmation(request: web.Request) -> web.Response:
    body = await parse_json(request, EmailIn)
    await request.app[keys.ACCOUNTS].resend_confirmation(
        request[keys.TENANT], body.email, client_ip(request)
    )
    return _message(flows.RESEND_ACCEPTED, status=202)


@endpoint(
    "Send a password reset link (202 whatever the address)",
    body=EmailIn,
    tag=TAG,
    responses={202: NoticeOut, **MAIL_ERRORS},
)
async def forgot_password(request: web.Request) -> web.Response:
    body = await parse_json(request, EmailIn)
    await request.app[keys.ACCOUNTS].forgot_password(
        request[keys.TENANT], body.email, client_ip(request)
    )
    return _message(flows.FORGOT_ACCEPTED, status=202)


@endpoint(
    "Set a new password with the token from the reset mail",
    body=ResetIn,
    tag=TAG,
    responses={200: NoticeOut, **MAIL_ERRORS},
)
async def reset_password(request: web.Request) -> web.Response:
    body = await parse_json(request, ResetIn)
    await request.app[keys.ACCOUNTS].reset_password(
        request[keys.TENANT], body.token, body.password, client_ip(request)
    )
    return _message(flows.PASSWORD_CHANGED)


@endpoint(
    "Log in for an access token; optionally take over a guest's data",
    body=LoginIn,
    tag=TAG,
    responses={
        200: LoginOut,
        **TENANT_ERRORS,
        401: "Wrong email or password",
        403: "Email not confirmed",
        429: "Too many failed logins",
    },
)
async def login(request: web.Request) -> web.Response:
    tenant = request[keys.TENANT]
    body = await parse_json(request, LoginIn)
    result = await request.app[keys.ACCOUNTS].login(
        tenant, body.email, body.password, client_ip(request), guest_user_id=body.guest_user_id
    )
    return json_response(
        LoginOut(
            access_token=result.access_token,
            expires_in=result.expires_in,
            user_id=str(result.account_id),
            tenant_id=tenant.id,
        )
    )
