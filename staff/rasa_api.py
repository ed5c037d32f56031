"""The staff app's calls to Rasa's HTTP API (``rasa run --enable-api --jwt-secret … --jwt-method HS256``).

The app signs its own short-lived HS256 JWTs with role ``admin`` (Rasa's ``requires_auth``
lets that role act on any conversation). Everything goes through Rasa's own endpoints:

- pause: append a ``pause`` event;
- an agent's reply: append a ``bot`` event with ``output_channel=latest&execute_side_effects=true``,
  so Rasa's own output channel of the senior's channel (WeChat customer-service API, Telegram
  sendMessage; the web chat reads it from the tracker) delivers it, and the history stays whole;
- hit testing: ``POST /model/parse`` (what the NLU makes of a question; no conversation changes);
- hand back: append ``resume``, let Rasa say ``utter_handoff_resumed`` (``/execute``), then log
  ``action_listen`` so the next message is predicted as a fresh turn.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import httpx
import jwt

from staff.errors import NotFound, Unavailable

logger = logging.getLogger(__name__)

TOKEN_SECONDS = 60
SAFE_ID = re.compile(r"^[A-Za-z0-9:_.@-]{1,160}$")
LATEST = {"output_channel": "latest", "execute_side_effects": "true"}


class RasaAPI:
    def __init__(self, base_url: str, jwt_secret: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = jwt_secret
        self._client = httpx.AsyncClient(timeout=timeout)
        self._token: tuple[str, float] | None = None

    async def aclose(self) -> None:
        await self._client.aclose()

    def _bearer(self) -> str:
        now = time.time()
        if self._token is None or self._token[1] - now < TOKEN_SECONDS / 2:
            payload = {
                "user": {"username": "yinling-staff", "role": "admin"},
                "iat": int(now),
                "exp": int(now) + TOKEN_SECONDS,
            }
            self._token = (jwt.encode(payload, self._secret, algorithm="HS256"), now + TOKEN_SECONDS)
        return self._token[0]

    def _url(self, conversation_id: str, tail: str) -> str:
        # Rasa's router does not percent-decode path parameters: "wechat%3Aabc" would name another
        # conversation. Our channels' ids (wechat:<openid>, telegram:<id>, web-<hex>) need no quoting;
        # anything else is quoted and may then not be found, which is reported as such.
        if not SAFE_ID.match(conversation_id):
            raise NotFound("this conversation id cannot be addressed through Rasa's HTTP API")
        return f"{self.base_url}/conversations/{conversation_id}/{tail}"

    async def _call(self, method: str, url: str, params: dict[str, str] | None = None, body: Any = None) -> Any:
        try:
            response = await self._client.request(
                method, url, params=params, json=body, headers={"Authorization": f"Bearer {self._bearer()}"}
            )
        except httpx.HTTPError as err:
            raise Unavailable(f"Rasa did not answer ({type(err).__name__})") from err
        if response.status_code == 404:
            raise NotFound("Rasa knows no such conversation")
        if response.status_code >= 400:
            # Rasa's error bodies can quote the request: log only the status.
            logger.error("Rasa API %s %s answered %d", method, url.split("/conversations/")[0], response.status_code)
            raise Unavailable(f"Rasa answered {response.status_code}")
        return response.json()

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        result = await self._call("GET", self._url(conversation_id, "tracker"), {"include_events": "AFTER_RESTART"})
        return dict(result)

    async def append(self, conversation_id: str, events: list[dict[str, Any]], deliver: bool = False) -> dict[str, Any]:
        result = await self._call(
            "POST", self._url(conversation_id, "tracker/events"), LATEST if deliver else None, events
        )
        return dict(result)

    async def execute(self, conversation_id: str, action: str) -> dict[str, Any]:
        result = await self._call("POST", self._url(conversation_id, "execute"), LATEST, {"name": action})
        return dict(result)

    async def parse(self, text: str) -> dict[str, Any]:
        """What the NLU makes of ``text`` (``POST /model/parse``): intent, confidence, ranking, entities.

        Nothing is stored in any conversation."""
        result = await self._call("POST", f"{self.base_url}/model/parse", None, {"text": text})
        return dict(result)

    async def pause(self, conversation_id: str) -> None:
        await self.append(conversation_id, [{"event": "pause"}])

    async def say(
        self, conversation_id: str, text: str, agent: str, custom: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """An agent's message, delivered on the senior's channel and kept in the tracker."""
        event: dict[str, Any] = {
            "event": "bot",
            "text": text,
            "timestamp": time.time(),
            "metadata": {"staff_agent": agent},
        }
        if custom:
            event["data"] = {"custom": custom}
        return await self.append(conversation_id, [event], deliver=True)

    async def resume(self, conversation_id: str, line: str = "utter_handoff_resumed") -> None:
        await self.append(conversation_id, [{"event": "resume"}])
        await self.execute(conversation_id, line)
        await self.append(conversation_id, [{"event": "action", "name": "action_listen"}])
