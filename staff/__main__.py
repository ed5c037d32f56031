"""Command line of the staff app: ``.venv/bin/python -m staff COMMAND``.

    create-user --role admin|agent NAME [--display-name 王老师]   password from a prompt, or stdin
    set-password NAME                                              password from a prompt, or stdin
    token NAME                                                     print a new API token (scripts)
    list-users
    serve [--host 127.0.0.1] [--port 5057]

Passwords are never taken from the command line (they would stay in the shell history and
in the process list).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys

from common.redact import install as install_redaction
from staff.accounts import Accounts
from staff.audit import Audit
from staff.config import Settings
from staff.db import StaffDB
from staff.errors import StaffError


def _password(confirm: bool = True) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (10 characters or more): ")
    if confirm and getpass.getpass("Again: ") != first:
        raise StaffError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    install_redaction()  # before anything logs: no personal data in clear in this process's logs
    parser = argparse.ArgumentParser(
        prog="python -m staff", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-user", help="create an agent or admin account")
    create.add_argument("username")
    create.add_argument("--role", choices=("agent", "admin"), required=True)
    create.add_argument("--display-name")
    sub.add_parser("set-password", help="set a new password (ends the user's sessions)").add_argument("username")
    sub.add_parser("token", help="make a new API token for scripts (the old one stops working)").add_argument(
        "username"
    )
    sub.add_parser("list-users", help="list accounts")
    purge = sub.add_parser("purge-unanswered", help="delete unanswered questions older than the retention period")
    purge.add_argument("--days", type=int, help="default: STAFF_UNANSWERED_DAYS (180)")
    serve = sub.add_parser("serve", help="run the staff web app")
    serve.add_argument("--host", default=os.environ.get("STAFF_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("STAFF_PORT", "5057")))
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        if args.command == "serve":
            return _serve(settings, args.host, args.port)
        db = StaffDB(settings.database_url)
        accounts, audit = Accounts(db, settings), Audit(db)
        actor = f"cli:{getpass.getuser()}"
        if args.command == "create-user":
            user = accounts.create_user(args.username, _password(), args.role, args.display_name)
            audit.record(actor, "user_created", target=user.username, details={"role": user.role})
            print(f"created {user.role} {user.username}")
        elif args.command == "set-password":
            user = accounts.by_name(args.username)
            accounts.set_password(user.id, _password())
            audit.record(actor, "password_set", target=user.username)
            print(f"password of {user.username} set; their sessions ended")
        elif args.command == "token":
            user = accounts.by_name(args.username)
            token = accounts.new_api_token(user.id)
            audit.record(actor, "token_created", target=user.username)
            print(token)
        elif args.command == "purge-unanswered":
            from staff.unanswered import Unanswered

            days = args.days if args.days is not None else settings.unanswered_days
            if days < 1:
                print("staff: --days must be at least 1", file=sys.stderr)
                return 2
            print(f"deleted {Unanswered(db).purge(days)} unanswered questions older than {days} days")
        elif args.command == "list-users":
            for user in accounts.all():
                print(f"{user.username}\t{user.role}\t{'active' if user.active else 'inactive'}\t{user.display_name}")
    except StaffError as err:
        print(f"staff: {err}", file=sys.stderr)
        return 2
    return 0


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from staff.app import asgi

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    # uvicorn's own access log prints query strings: ours (staff.access) does not.
    uvicorn.run(asgi(settings), host=host, port=port, access_log=False, log_config=None, proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
