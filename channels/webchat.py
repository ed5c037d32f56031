"""The large-print web chat page, served at ``/webhooks/webchat/``.

The page itself (``channels/webchat/``: index.html, chat.css, chat.js) talks to the REST
channel (:mod:`channels.rest`) on the same server, so this channel handles no messages: it
only serves the files. Enable it in ``credentials.yml`` next to the REST channel::

    channels.webchat.WebChatInput: {}

The files are read once when the blueprint is built and served from memory by exact name,
so no request path ever reaches the file system (no directory traversal by construction).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

PAGE_DIR = Path(__file__).with_name("webchat")
INDEX = "index.html"

# Only these kinds of files are served; anything else in the folder stays private.
CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# The page loads nothing from elsewhere (no CDN, no web fonts) and never should: the policy
# makes a future slip fail loudly in the browser instead of leaking a visit to a third party.
# Loopback is allowed for connect-src because chat.js accepts a loopback REST URL for tests.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http://127.0.0.1:* http://localhost:*; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


class _Asset:
    __slots__ = ("body", "content_type")

    def __init__(self, body: bytes, content_type: str) -> None:
        self.body = body
        self.content_type = content_type


def load_assets(folder: Path = PAGE_DIR) -> dict[str, _Asset]:
    """Every servable file directly inside ``folder``, by file name."""
    assets: dict[str, _Asset] = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if content_type is not None and path.is_file():
            assets[path.name] = _Asset(path.read_bytes(), content_type)
    if INDEX not in assets:
        raise FileNotFoundError(f"the web chat page is missing: {folder / INDEX} (restore channels/webchat/)")
    return assets


def _serve(asset: _Asset) -> HTTPResponse:
    return response.raw(
        asset.body,
        content_type=asset.content_type,
        headers={
            # Small files, changed only by a deploy: revalidate so a new page is seen at once.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Referrer-Policy": "no-referrer",
        },
    )


class WebChatInput(InputChannel):
    """Serves the web chat page; messages go to the REST channel."""

    def __init__(self, page_dir: Path = PAGE_DIR) -> None:
        self.page_dir = page_dir

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        assets = load_assets(self.page_dir)
        page = Blueprint(f"yinling_{self.name()}_page", __name__)

        @page.route("/", methods=["GET"])
        async def index(request: Request) -> HTTPResponse:
            # The page links its files relatively ("static/chat.css"), which only resolves
            # under the folder URL: send /webhooks/webchat to /webhooks/webchat/. A relative
            # Location keeps working behind a proxy that adds a path prefix.
            if not request.path.endswith("/"):
                return response.redirect(f"{self.name()}/", status=301)
            return _serve(assets[INDEX])

        @page.route("/static/<name:str>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            asset = assets.get(name)
            if asset is None:
                return response.text("not found", status=404)
            return _serve(asset)

        return page
