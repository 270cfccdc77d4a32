"""The workspace inside Airflow 3's API server: a plugin with a FastAPI app and a nav entry.

Registered through the package's ``airflow.plugins`` entry point, so an Airflow image with
wijkbrug installed shows "Werkplek stewards" in its menu at ``/wijkbrug/``. Airflow signs users
in: the JWT in Airflow's ``_token`` cookie is checked by Airflow's own auth manager, and
``WIJKBRUG_WEB_AIRFLOW_ROLES`` maps Airflow user names to workspace roles (anyone else who is
signed in to Airflow is a viewer). The app is built on its first request, so the scheduler and
DAG processor, which load plugins too, never need the workspace's settings.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import HTTPException, Request

from wijkbrug.web.users import ROLES, User

URL_PREFIX = "/wijkbrug"


async def airflow_user(request: Request) -> User | None:
    """Who Airflow says sent the request (its session cookie), with the mapped role."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import resolve_user_from_token

    from wijkbrug.settings import Settings

    token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        return None
    try:
        user = await resolve_user_from_token(token)
    except HTTPException:
        return None
    name = user.get_name()
    role = Settings().web_airflow_roles.get(name, "viewer")
    return User(name, role if role in ROLES else "viewer")


class _Lazy:
    """An ASGI app that builds the workspace when it is first used. ``routes`` is there for
    Starlette: ``url_for`` in a mounted app finds its routes through the mount."""

    def __init__(self) -> None:
        self._app: Any = None

    def _built(self) -> Any:
        if self._app is None:
            from wijkbrug.settings import Settings
            from wijkbrug.web.app import create_app, session_key

            settings = Settings()
            self._app = create_app(settings, None, session_key(settings), identify=airflow_user)
        return self._app

    @property
    def routes(self) -> list[Any]:
        return self._built().routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._built()(scope, receive, send)


class WijkbrugPlugin(AirflowPlugin):
    name = "wijkbrug"
    fastapi_apps = [  # noqa: RUF012 - Airflow's plugin interface
        {"app": _Lazy(), "url_prefix": URL_PREFIX, "name": "wijkbrug werkplek"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Werkplek stewards",
            "href": "wijkbrug/",
            "destination": "nav",
            "url_route": "wijkbrug",
        }
    ]
