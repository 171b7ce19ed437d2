"""``/dash/signin`` and ``/dash/signout``: an API token in, a session cookie out."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from pyflow_actors.errors import AuthRateLimited, CsrfRejected, Unauthorized

from ..auth import client_address
from .pages import SECURITY_HEADERS, error_page, render, scoped, to_sign_in
from .sessions import (
    COOKIE,
    COOKIE_PATH,
    DashSession,
    check_csrf,
    check_same_origin,
    session_store,
)

router = APIRouter(prefix="/dash", include_in_schema=False)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    """The first account's workflows, or the sign-in page."""

    async def view(session: DashSession) -> Response:
        return RedirectResponse(f"/dash/a/{session.accounts[0]}", status_code=303)

    return await scoped(request, None, view)


@router.get("/signin")
async def sign_in_page(request: Request) -> Response:
    return render(request, "signin.html", {})


@router.post("/signin")
async def sign_in(request: Request, token: str = Form("")) -> Response:
    """Exchange an API token for a session cookie (httponly, SameSite=Strict)."""
    try:
        check_same_origin(request)
        sealed = session_store(request).sign_in(token, client_address(request))
    except CsrfRejected as error:
        return error_page(request, error, None)
    except AuthRateLimited as error:  # many wrong tokens from this address lately
        return render(request, "signin.html", {"refused": error.message}, status_code=429)
    except Unauthorized:
        refused = {"refused": "That API token is not valid here."}
        return render(request, "signin.html", refused, status_code=401)
    session = session_store(request).get(sealed)
    response = RedirectResponse(
        f"/dash/a/{session.accounts[0]}", status_code=303, headers=SECURITY_HEADERS
    )
    response.set_cookie(
        COOKIE,
        sealed,
        max_age=int(session_store(request).ttl),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout")
async def sign_out(request: Request, csrf: str = Form("")) -> Response:
    async def view(session: DashSession) -> Response:
        check_csrf(request, session, csrf)
        response = to_sign_in()  # the cookie holds the whole session: forgetting it ends it
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    return await scoped(request, None, view)
