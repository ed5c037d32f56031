"""Staff accounts: argon2 password hashes, server-side sessions, API tokens, login throttling.

- Passwords are hashed with argon2id (argon2-cffi's defaults); a login for an unknown name
  still runs one verification, so timing does not tell which names exist.
- A session is a random 256-bit value in an HttpOnly, SameSite=Strict cookie; the database
  keeps only its sha256, with its own CSRF token, last activity (idle timeout) and expiry.
- Failed logins grow a delay (0.25 s, 0.5 s, 1 s … up to 8 s) and, after
  ``STAFF_LOCKOUT_FAILURES`` in a row, lock the account for ``STAFF_LOCKOUT_MINUTES``.
- API tokens (for scripts) are random, shown once, stored as sha256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from staff.config import Settings
from staff.db import StaffDB, now, sessions, users
from staff.errors import Conflict, InvalidInput, NotFound

ROLES = ("agent", "admin")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 would hash a megabyte happily; nobody types one
TOKEN_PREFIX = "ylst_"  # noqa: S105 - a prefix that marks our tokens, not a secret

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone " + secrets.token_hex(8))


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    active: bool

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str
    expires_at: dt.datetime


class LoginRefused(Conflict):
    """Wrong name or password, or a locked account; ``retry_after`` seconds when locked."""

    def __init__(self, message: str, retry_after: int | None = None, failures: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.failures = failures


def delay_for(failures: int) -> float:
    """Seconds to wait before answering the ``failures``-th failed login in a row."""
    if failures <= 0:
        return 0.0
    return float(min(0.25 * 2 ** (failures - 1), 8.0))


def _user(row: sa.Row[tuple[object, ...]] | None) -> User:
    if row is None:
        raise NotFound("no such user")
    m = row._mapping
    return User(int(m["id"]), str(m["username"]), str(m["display_name"]), str(m["role"]), bool(m["active"]))


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


class Accounts:
    def __init__(self, db: StaffDB, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    # -- users -----------------------------------------------------------------------------
    def create_user(self, username: str, password: str, role: str, display_name: str | None = None) -> User:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput("a user name is 2–64 of a-z, 0-9, '.', '_' and '-'")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
        check_password(password)
        try:
            with self.db.write() as conn:
                user_id = conn.execute(
                    users.insert()
                    .values(
                        username=username,
                        display_name=(display_name or username).strip()[:64] or username,
                        role=role,
                        password_hash=_hasher.hash(password),
                        active=True,
                        failed_logins=0,
                        created_at=now(),
                    )
                    .returning(users.c.id)
                ).scalar_one()
        except sa.exc.IntegrityError as err:
            raise Conflict(f"a user named {username!r} exists") from err
        return self.get(int(user_id))

    def get(self, user_id: int) -> User:
        with self.db.read() as conn:
            return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).first())

    def by_name(self, username: str) -> User:
        with self.db.read() as conn:
            return _user(conn.execute(sa.select(users).where(users.c.username == username.strip().lower())).first())

    def all(self) -> list[User]:
        with self.db.read() as conn:
            return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.username)).all()]

    def set_password(self, user_id: int, password: str) -> None:
        check_password(password)
        with self.db.write() as conn:
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(password_hash=_hasher.hash(password), failed_logins=0, locked_until=None)
            )
            conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def new_api_token(self, user_id: int) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(api_token_hash=_sha256(token)))
        return token

    def set_api_token(self, user_id: int, token: str) -> None:
        """Install a token made elsewhere (a secrets manager, a test); it must look like ours."""
        if not token.startswith(TOKEN_PREFIX) or not 24 <= len(token) <= 200:
            raise InvalidInput(f"an API token starts with {TOKEN_PREFIX!r} and has 24–200 characters")
        with self.db.write() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(api_token_hash=_sha256(token)))

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(users).where(users.c.api_token_hash == _sha256(token), users.c.active.is_(True))
            ).first()
        return _user(row) if row is not None else None

    # -- logging in ------------------------------------------------------------------------
    def login(self, username: str, password: str) -> tuple[User, str]:
        """The user and a new session token; LoginRefused (with the failure count) otherwise."""
        name = username.strip().lower()[:64]
        at = now()
        with self.db.read() as conn:
            row = conn.execute(sa.select(users).where(users.c.username == name)).first()
        if row is None or len(password) > MAX_PASSWORD:
            _verify(_DUMMY_HASH, password[:MAX_PASSWORD])
            raise LoginRefused("wrong user name or password")
        m = row._mapping
        locked_until = m["locked_until"]
        if locked_until is not None and locked_until > at:
            raise LoginRefused(
                "this account is locked for a while after too many failed logins",
                retry_after=int((locked_until - at).total_seconds()) + 1,
                failures=int(m["failed_logins"]),
            )
        if not m["active"] or not _verify(str(m["password_hash"]), password):
            failures = int(m["failed_logins"]) + 1
            lock = failures >= self.settings.lockout_failures
            with self.db.write() as conn:
                conn.execute(
                    users.update()
                    .where(users.c.id == m["id"])
                    .values(
                        failed_logins=users.c.failed_logins + 1,
                        locked_until=at + dt.timedelta(minutes=self.settings.lockout_minutes) if lock else None,
                    )
                )
            raise LoginRefused(
                "wrong user name or password",
                retry_after=self.settings.lockout_minutes * 60 if lock else None,
                failures=failures,
            )
        user = _user(row)
        token = secrets.token_urlsafe(32)
        with self.db.write() as conn:
            if _hasher.check_needs_rehash(str(m["password_hash"])):
                conn.execute(users.update().where(users.c.id == user.id).values(password_hash=_hasher.hash(password)))
            conn.execute(users.update().where(users.c.id == user.id).values(failed_logins=0, locked_until=None))
            conn.execute(
                sessions.insert().values(
                    id_hash=_sha256(token),
                    user_id=user.id,
                    csrf_token=secrets.token_urlsafe(32),
                    created_at=at,
                    last_seen=at,
                    expires_at=at + dt.timedelta(hours=self.settings.session_hours),
                )
            )
            # Old sessions of this user that ran out: keep the table small.
            conn.execute(sessions.delete().where(sessions.c.user_id == user.id, sessions.c.expires_at < at))
        return user, token

    def session(self, token: str, touch: bool = True) -> Session | None:
        """The live session for a cookie value (its idle clock restarted), or None."""
        if not token or len(token) > 100:
            return None
        at = now()
        idle = dt.timedelta(minutes=self.settings.idle_minutes)
        key = _sha256(token)
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(sessions, users)
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id_hash == key)
            ).first()
        if row is None:
            return None
        m = row._mapping
        if not m["active"] or m["expires_at"] <= at or m["last_seen"] + idle <= at:
            self.logout(token)
            return None
        # Write the activity at most every 30 s: polling pages must not turn every read into a write.
        if touch and at - m["last_seen"] > dt.timedelta(seconds=30):
            with self.db.write() as conn:
                conn.execute(sessions.update().where(sessions.c.id_hash == key).values(last_seen=at))
        user = User(int(m["user_id"]), str(m["username"]), str(m["display_name"]), str(m["role"]), bool(m["active"]))
        return Session(user, str(m["csrf_token"]), m["expires_at"])

    def logout(self, token: str) -> None:
        with self.db.write() as conn:
            conn.execute(sessions.delete().where(sessions.c.id_hash == _sha256(token)))


def _verify(hashed: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(hashed, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
