"""Sign-in (sessions, throttling) and authorization from the access matrix stored as data."""

from __future__ import annotations

import anyio
from sqladmin.authentication import AuthenticationBackend
from sqladmin.authorization import WILDCARD, GrantsAuthorizationBackend
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from admin.middleware import set_language_cookie
from locales import LANGUAGES, gettext
from schema import model_for
from schema.people import Permission, RoleCode, User
from services.accounts import sign_in
from services.actor import Actor, set_actor
from services.scoping import tenant_may

SESSION_USER = "uid"
SESSION_STAMP = "stamp"


def _stamp(user: User) -> str:
    # Changing the password (or deactivating) invalidates sessions signed with the old stamp.
    return f"{user.password_hash[-16:]}:{int(user.active)}"


class PostdeskAuth(AuthenticationBackend):
    def __init__(self, secret_key: str, factory: sessionmaker[Session], *, max_age: int,
                 https_only: bool) -> None:
        super().__init__(
            secret_key=secret_key, max_age=max_age, https_only=https_only, same_site="strict",
            session_cookie="postdesk_session",
        )
        self.factory = factory

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))

        def check() -> tuple[int | None, str | None, str, bool]:
            with self.factory() as session, session.begin():
                result = sign_in(session, username, password)
                if result.user is None:
                    return None, None, "", result.locked
                return result.user.id, _stamp(result.user), result.user.language, False

        user_id, stamp, language, locked = await anyio.to_thread.run_sync(check)
        if user_id is None:
            request.state.login_error = (
                gettext("Too many failed attempts. Wait five minutes and try again.")
                if locked else gettext("Wrong username or password.")
            )
            return False
        csrf = request.session.get("csrf")
        request.session.clear()  # a fresh session on sign-in: no fixation
        request.session.update({SESSION_USER: user_id, SESSION_STAMP: stamp})
        if csrf:
            request.session["csrf"] = csrf
        response = RedirectResponse(request.url_for("admin:index"), status_code=302)
        if language in LANGUAGES:
            set_language_cookie(response, language, request)
        return response

    async def logout(self, request: Request) -> bool:
        request.session.clear()
        set_actor(None)
        return True

    async def authenticate(self, request: Request) -> bool:
        user_id = request.session.get(SESSION_USER)
        if user_id is None:
            return False

        def load() -> User | None:
            with self.factory() as session:
                return session.scalar(select(User).where(User.id == user_id))

        user = await anyio.to_thread.run_sync(load)
        if user is None or not user.active or request.session.get(SESSION_STAMP) != _stamp(user):
            request.session.clear()
            return False
        wanted = getattr(request.state, "language_chosen", None)
        if wanted and wanted != user.language:
            await anyio.to_thread.run_sync(self._save_language, user.id, wanted)
        request.state.user = user
        set_actor(Actor(user_id=user.id, username=user.username, role=user.role.code.value,
                        merchant_id=user.merchant_id if user.role.code is RoleCode.MERCHANT
                        else None))
        return True

    def _save_language(self, user_id: int, language: str) -> None:
        # The switcher's choice follows the person to other browsers.
        with self.factory() as session, session.begin():
            session.execute(update(User).where(User.id == user_id).values(language=language))

    async def get_user_id(self, request: Request) -> int | None:
        user = getattr(request.state, "user", None)
        return user.id if user is not None else None


class MatrixAuthorization(GrantsAuthorizationBackend):
    """Grants come from the ``permissions`` table, which ``postdesk seed`` fills from
    seed/data/access.yaml and administrators may edit."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    async def get_grants(self, request: Request) -> set[tuple[str, str]]:
        user: User | None = getattr(request.state, "user", None)
        if user is None:
            return set()
        if user.role.code is RoleCode.SUPERUSER:
            return {(WILDCARD, WILDCARD)}

        def load() -> set[tuple[str, str]]:
            with self.factory() as session:
                rows = session.execute(
                    select(Permission.table_name, Permission.action).where(
                        Permission.role_id == user.role_id
                    )
                ).all()
            return {(t, a) for t, a in rows}

        grants = await anyio.to_thread.run_sync(load)
        if user.role.code is RoleCode.MERCHANT:
            # What the schema says a tenant may never do, no row of the matrix can grant.
            grants = {(t, a) for t, a in grants if _tenant_may(t, a)}
        return grants


def _tenant_may(table: str, action: str) -> bool:
    if table == WILDCARD:
        return False  # every table includes the internal ones
    try:
        model = model_for(table)
    except LookupError:
        return True  # a page, not a table (reports, my_tasks): its own view checks rows
    return tenant_may(model, action)
