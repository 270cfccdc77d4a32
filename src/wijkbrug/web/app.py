"""The web workspace: a FastAPI app of server-rendered Dutch pages, no JavaScript framework.

Thin: what a page shows or does comes from the domain modules (:mod:`wijkbrug.quarantine_desk`,
the ledger, :mod:`wijkbrug.inzage`); this module adds sign-in, roles, CSRF tokens and HTML.
Personal data stays masked until a steward reveals a record with a reason, which the audit
trail records before the page shows it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.templating import Jinja2Templates
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.middleware.sessions import SessionMiddleware

from wijkbrug import quarantine_desk as desk
from wijkbrug.metrics import exposition
from wijkbrug.quarantine_desk import Refused
from wijkbrug.settings import Settings
from wijkbrug.web.users import ROLE_NL, User, Users, UsersError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
SESSION_HOURS = 8


class NotSignedIn(Exception):
    """The request needs a signed-in user: sign in first."""


def users_path(settings: Settings) -> Path:
    return settings.web_users_file or settings.state_dir / "web-users.json"


def session_key(settings: Settings) -> str:
    """The configured key; in development one kept (0600) in the state folder."""
    if settings.web_session_key:
        return settings.web_session_key
    if settings.production:
        raise UsersError(
            "production mode needs WIJKBRUG_WEB_SESSION_KEY (or the secret file "
            "wijkbrug_web_session_key)"
        )
    path = settings.state_dir / "web-session-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def build_app(settings: Settings) -> FastAPI:
    """The app on ``settings``; refuses (:class:`UsersError`) without users or, in production,
    without a session key."""
    return create_app(settings, Users.load(users_path(settings)), session_key(settings))


def create_app(
    settings: Settings,
    users: Users | None,
    key: str,
    *,
    identify: Callable[[Request], Awaitable[User | None]] | None = None,
) -> FastAPI:
    """The workspace. Standalone (``users``): its own sign-in. Mounted in Airflow
    (``identify``): Airflow signs users in, ``identify`` says who a request is from."""
    app = FastAPI(title="wijkbrug", docs_url=None, redoc_url=None, openapi_url=None)
    registry = CollectorRegistry()
    requests_total = Counter(
        "wijkbrug_web_requests", "Requests by route and status.", ["route", "status"],
        registry=registry,
    )  # fmt: skip
    request_seconds = Histogram(
        "wijkbrug_web_request_seconds", "Request duration by route.", ["route"], registry=registry
    )
    actions_total = Counter(
        "wijkbrug_web_actions", "Reveals, releases and rejections done.", ["action"],
        registry=registry,
    )  # fmt: skip

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "other")  # the template, never the record id in it
        requests_total.labels(name, str(response.status_code)).inc()
        request_seconds.labels(name).observe(time.perf_counter() - started)
        return response

    if identify is not None:

        @app.middleware("http")
        async def _identity(request: Request, call_next: Any) -> Any:
            request.state.wijkbrug_user = await identify(request)
            return await call_next(request)

    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="wijkbrug_sessie",
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=settings.production,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["tijd"] = lambda moment: desk.clock(settings, moment)
    reports = settings.state_dir / "reports"
    from wijkbrug.scheduled import monitoring_dir

    monitoring = monitoring_dir(settings)

    opened: list[Any] = []  # the ledger, opened on first use and shared by every request
    opening = threading.Lock()

    def ledger() -> Any:
        from wijkbrug.ledger import Ledger

        with opening:
            if not opened:
                opened.append(Ledger(settings.ledger()))
            return opened[0]

    def user_of(request: Request) -> User | None:
        if identify is not None:
            return request.state.wijkbrug_user
        name = request.session.get("user")
        return users.get(name) if name and users else None

    def need(request: Request, permission: str = "view") -> User:
        user = user_of(request)
        if user is None:
            raise NotSignedIn
        if not user.may(permission):
            raise HTTPException(403, "Dit mag uw rol niet.")
        return user

    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(32)
        return token

    def check_csrf(request: Request, token: str) -> None:
        if not hmac.compare_digest(token or "", request.session.get("csrf") or "-"):
            raise HTTPException(403, "Formulier verlopen of ongeldig; laad de pagina opnieuw.")

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        user = user_of(request)
        flashes = request.session.pop("flash", [])
        return templates.TemplateResponse(
            request,
            name,
            {"user": user, "role_nl": ROLE_NL, "csrf": csrf(request), "flashes": flashes} | context,
        )

    def flash(request: Request, kind: str, text: str) -> None:
        request.session.setdefault("flash", []).append({"kind": kind, "text": text})

    @app.exception_handler(NotSignedIn)
    async def _to_login(request: Request, _error: NotSignedIn) -> RedirectResponse:
        return RedirectResponse(request.url_for("login"), status_code=303)

    @app.exception_handler(HTTPException)
    async def _refused(request: Request, error: HTTPException) -> HTMLResponse:
        response = page(request, "error.html", message=error.detail)
        response.status_code = error.status_code
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        body, content_type = exposition(registry, request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    # -- signing in ------------------------------------------------------------------------

    @app.get("/inloggen", response_class=HTMLResponse)
    def login(request: Request) -> HTMLResponse:
        return page(request, "login.html", via_airflow=identify is not None)

    @app.post("/inloggen")
    def login_post(
        request: Request,
        naam: str = Form(""),
        wachtwoord: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Any:
        check_csrf(request, csrf_token)
        if users is None:
            raise HTTPException(404, "Inloggen gaat via Airflow.")
        user = users.login(naam.strip(), wachtwoord)
        if user is None:
            log.info("web: sign-in refused")
            response = page(request, "login.html", error="Naam of wachtwoord klopt niet.")
            response.status_code = 401
            return response
        request.session.clear()
        request.session["user"] = user.name
        log.info("web: %s signed in (%s)", user.name, user.role)
        return RedirectResponse(request.url_for("home"), status_code=303)

    @app.post("/uitloggen")
    def logout(request: Request, csrf_token: str = Form("")) -> RedirectResponse:
        check_csrf(request, csrf_token)
        request.session.clear()
        return RedirectResponse(request.url_for("login"), status_code=303)

    # -- pages -----------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        need(request)
        return page(request, "home.html")

    @app.get("/validatie", response_class=HTMLResponse)
    def validation_runs(request: Request) -> HTMLResponse:
        need(request)
        runs = []
        for summary in sorted(reports.glob("*/samenvattingen/*.html"), reverse=True):
            night = summary.parents[1]
            docs = night / "data_docs" / "index.html"
            runs.append(
                {
                    "night": night.name,
                    "run": summary.stem,
                    "summary": summary.relative_to(reports).as_posix(),
                    "data_docs": docs.relative_to(reports).as_posix() if docs.exists() else None,
                }
            )
        return page(request, "runs.html", runs=runs)

    @app.get("/rapporten/{path:path}", name="report_file")
    def report_file(request: Request, path: str) -> FileResponse:
        need(request)
        return FileResponse(_inside(reports, path))

    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page(request: Request) -> HTMLResponse:
        need(request)
        boards = [
            {"period": p.parent.parent.name, "label": p.parent.name,
             "path": p.relative_to(monitoring).as_posix()}
            for p in sorted(monitoring.glob("*/*/index.html"), reverse=True)
        ]  # fmt: skip
        return page(request, "monitoring.html", boards=boards)

    @app.get("/monitoring-bestanden/{path:path}", name="monitoring_file")
    def monitoring_file(request: Request, path: str) -> FileResponse:
        need(request)
        return FileResponse(_inside(monitoring, path))

    @app.get("/quarantaine", response_class=HTMLResponse)
    def quarantine(request: Request, alle: bool = False) -> HTMLResponse:
        from wijkbrug.quarantine_review import Review, policy_for, reviews, short_ids, view

        need(request)
        records = desk.read_quarantine(settings)
        states = reviews(desk.entries(settings))
        shorts = short_ids(r.id for r in records)
        rows = [
            {
                "record": r,
                "short": shorts[r.id],
                "state": states.get(r.id, Review()),
                "raw": view(r, policy_for(r)).raw,
            }
            for r in records
            if alle or r.id not in states
        ]
        return page(request, "quarantine.html", rows=rows, everything=alle)

    def record_page(
        request: Request, qid: str, user: User, revealed: Callable[..., Any] | None = None
    ) -> HTMLResponse:
        from wijkbrug.quarantine_review import policy_for, short_ids, view

        records = desk.read_quarantine(settings)
        found = [r for r in records if r.id == qid]
        if not found:
            raise HTTPException(404, "Geen record in quarantaine met dit id.")
        record = found[0]
        short = short_ids(r.id for r in records)[record.id]
        shown = revealed(record) if revealed else view(record, policy_for(record))
        history = desk.entries(settings, record.id)
        return page(
            request,
            "record.html",
            record=record,
            short=short,
            shown=shown,
            revealed=revealed is not None,
            state=desk.review_of(history, record.id),
            history=history,
            reasons=[_reason_text(r.code, r.field) for r in record.reasons],
            may_reveal=user.may("reveal"),
            may_decide=user.may("decide"),
        )

    @app.get("/quarantaine/{qid}", response_class=HTMLResponse, name="record")
    def record(request: Request, qid: str) -> HTMLResponse:
        return record_page(request, qid, need(request))

    @app.post("/quarantaine/{qid}/onthullen", response_class=HTMLResponse)
    def reveal(
        request: Request, qid: str, reden: str = Form(""), csrf_token: str = Form("")
    ) -> HTMLResponse:
        user = need(request, "reveal")
        check_csrf(request, csrf_token)

        def revealed(record: Any) -> Any:
            shown = desk.reveal(settings, [record], user.name, reden)[record.id]
            actions_total.labels("reveal").inc()
            return shown

        try:
            return record_page(request, qid, user, revealed)
        except Refused as refused:
            flash(request, "fout", str(refused))
            return RedirectResponse(request.url_for("record", qid=qid), status_code=303)

    @app.post("/quarantaine/{qid}/vrijgeven")
    def release(
        request: Request,
        qid: str,
        correcties: str = Form(""),
        reden: str = Form(""),
        csrf_token: str = Form(""),
    ) -> RedirectResponse:
        from wijkbrug.quarantine_review import FixError, parse_fix

        user = need(request, "decide")
        check_csrf(request, csrf_token)
        try:
            fixes = [parse_fix(line.strip()) for line in correcties.splitlines() if line.strip()]
            record, short = desk.find(desk.read_quarantine(settings), qid)
            done = desk.release(settings, record, short, fixes, user.name, reden)
        except (Refused, FixError) as refused:
            flash(request, "fout", str(refused))
        else:
            if done.release.refused:
                reasons = "; ".join(_reason_text(r.code, r.field) for r in done.release.reasons)
                flash(request, "fout", f"Niet vrijgegeven, voldoet nog niet: {reasons}")
            else:
                actions_total.labels("release").inc()
                count = len(done.release.events)
                flash(request, "ok", f"Vrijgegeven: {short}, {count} gebeurtenis(sen) opnieuw "
                      "gepubliceerd via de gewone weg.")  # fmt: skip
        return RedirectResponse(request.url_for("record", qid=qid), status_code=303)

    @app.post("/quarantaine/{qid}/afwijzen")
    def reject(
        request: Request, qid: str, reden: str = Form(""), csrf_token: str = Form("")
    ) -> RedirectResponse:
        user = need(request, "decide")
        check_csrf(request, csrf_token)
        try:
            record, short = desk.find(desk.read_quarantine(settings), qid)
            desk.reject(settings, record, short, user.name, reden)
        except Refused as refused:
            flash(request, "fout", str(refused))
        else:
            actions_total.labels("reject").inc()
            flash(request, "ok", f"Afgewezen: {short}.")
        return RedirectResponse(request.url_for("record", qid=qid), status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request) -> HTMLResponse:
        need(request)
        return page(request, "audit.html", entries=list(reversed(desk.entries(settings))))

    @app.get("/leveringen", response_class=HTMLResponse)
    def deliveries(request: Request) -> HTMLResponse:
        from wijkbrug.inzage import STATUS_LABELS

        need(request)
        counts = ledger().counts()
        waiting = ledger().held_count()
        partners: dict[str, dict[str, Any]] = defaultdict(
            lambda: {"channels": defaultdict(lambda: defaultdict(int)), "latest": None}
        )
        for row in counts:
            partner = partners[row["partner"]]
            channel = partner["channels"][row["channel"]]
            channel[row["status"]] += row["count"]
            if row["kind"] == "retraction":
                channel["retractions"] += row["count"]
            if row["latest"] and (partner["latest"] is None or row["latest"] > partner["latest"]):
                partner["latest"] = row["latest"]
        return page(
            request,
            "deliveries.html",
            partners=dict(sorted(partners.items())),
            status_nl=STATUS_LABELS,
            waiting=waiting,
        )

    @app.get("/inzage", response_class=HTMLResponse)
    def inzage(request: Request) -> HTMLResponse:
        need(request, "inzage")
        return page(request, "inzage.html", rows=None)

    @app.post("/inzage", response_class=HTMLResponse)
    def inzage_post(
        request: Request,
        huurder: str = Form(""),
        bsn: str = Form(""),
        csrf_token: str = Form(""),
    ) -> HTMLResponse:
        from wijkbrug.inzage import STATUS_LABELS, subject_access
        from wijkbrug.keys import KeyStore
        from wijkbrug.pipeline import KeyAccess

        user = need(request, "inzage")
        check_csrf(request, csrf_token)
        if not huurder.strip() and not bsn.strip():
            return page(request, "inzage.html", rows=None, error="Geef een huurdernummer of BSN.")
        keys = KeyAccess(KeyStore(settings.keys_path(), generate=settings.generate_keys))
        rows = subject_access(
            ledger(), keys.subjects, tenant=huurder.strip() or None, bsn=bsn.strip() or None
        )
        log.info("web: %s answered a subject-access request (%d rows)", user.name, len(rows))
        return page(request, "inzage.html", rows=rows, status_nl=STATUS_LABELS, asked=True)

    return app


def _inside(root: Path, path: str) -> Path:
    """``root / path``, refusing anything outside ``root`` (``..``, links)."""
    base = root.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        raise HTTPException(404, "Niet gevonden.")
    return target


def _reason_text(code: str, field: str | None) -> str:
    from wijkbrug.reasons import REASONS

    return (f"{field}: " if field else "") + REASONS.get(code, code)
