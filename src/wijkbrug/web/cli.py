"""``wijkbrug web``: start the workspace; ``wijkbrug web user NAME --role ROLE`` sets a user."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from wijkbrug.settings import Settings


def add_parser(commands: Any) -> None:
    web = commands.add_parser(
        "web", help="de werkplek voor data stewards en privacy officers in de browser"
    )
    web.add_argument("--host", default=None, help="adres (standaard WIJKBRUG_WEB_HOST)")
    web.add_argument("--port", type=int, default=None, help="poort (standaard WIJKBRUG_WEB_PORT)")
    actions = web.add_subparsers(dest="web_action", metavar="ACTIE")
    user = actions.add_parser("user", help="voeg een gebruiker toe of wijzig wachtwoord en rol")
    user.add_argument("name", metavar="NAAM")
    user.add_argument("--role", required=True, choices=["viewer", "steward", "privacy"])
    user.add_argument("--password-stdin", action="store_true", help="lees het wachtwoord van stdin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from wijkbrug.web.app import users_path
    from wijkbrug.web.users import UsersError, set_user

    if args.web_action == "user":
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Wachtwoord: ")
            if getpass.getpass("Nog eens: ") != password:
                print("wijkbrug: de wachtwoorden verschillen", file=sys.stderr)
                return 2
        if len(password) < 12:
            print("wijkbrug: een wachtwoord heeft minstens 12 tekens", file=sys.stderr)
            return 2
        try:
            set_user(users_path(settings), args.name, args.role, password)
        except UsersError as error:
            print(f"wijkbrug: {error}", file=sys.stderr)
            return 2
        print(f"gebruiker {args.name} ({args.role}) staat in {users_path(settings)}")
        return 0
    return serve(settings, host=args.host, port=args.port)


def serve(settings: Settings, *, host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    from wijkbrug.web.app import build_app
    from wijkbrug.web.users import UsersError

    try:
        app = build_app(settings)
    except UsersError as error:
        print(
            f"wijkbrug: de werkplek start niet: {error}. Maak gebruikers met "
            "'wijkbrug web user NAAM --role steward'.",
            file=sys.stderr,
        )
        return 2
    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    print(f"werkplek: http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    return 0
