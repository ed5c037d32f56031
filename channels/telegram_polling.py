"""Telegram without a public URL: long-poll ``getUpdates`` and relay each update to the running server's webhook.

For local use and demos, when Telegram cannot reach this machine. Start the servers with the
Telegram channel switched on (``TELEGRAM_TOKEN`` and ``TELEGRAM_SECRET_TOKEN`` set for
``make run``), then in another terminal, with the same two variables::

    TELEGRAM_TOKEN=123456:ABC... TELEGRAM_SECRET_TOKEN=... .venv-rasa/bin/python -m channels.telegram_polling

Options: ``--webhook-url`` (default ``http://$YINLING_HOST:$YINLING_RASA_PORT/webhooks/telegram/webhook``,
i.e. ``http://127.0.0.1:5005/webhooks/telegram/webhook``) and ``--credentials`` (default
``credentials.yml``; its ``channels.telegram.TelegramInput`` section is read if present, then the
TELEGRAM_* environment variables).

How it works, and why: this process only carries updates. Each raw update, exactly as Telegram
sent it, is POSTed with the secret header to the server's Telegram webhook, i.e. to the same
code that serves webhook mode: the same checks, deduplication, rate limits, keyboards, trusted
payloads and sender ids (``telegram:<chat id>``). An update is confirmed to Telegram (the next
``offset``) only once the server took it (2xx) or refused it for good (400, 413); when the server
is busy or down, the same update is offered again after a pause, as Telegram itself would.

At start it deletes any webhook of the bot (Telegram refuses ``getUpdates`` while one is set),
keeping pending updates: do not run it while a webhook deployment of the same bot is live.
Updates are relayed one after another, in order. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx
from telegram import Bot
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from channels.telegram import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    SECTION,
    TelegramApiError,
    TelegramChannelError,
    TelegramConfigError,
    TelegramSettings,
    describe_error,
    retry_seconds,
)

logger = logging.getLogger(__name__)

LONG_POLL_SECONDS: Final = 30
MAX_BACKOFF_SECONDS: Final = 60.0
# The webhook answers at once (the bot's work happens after), so a slow answer means trouble.
RELAY_TIMEOUT_SECONDS: Final = 30.0


def default_webhook_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    host = env.get("YINLING_HOST", "127.0.0.1")
    port = env.get("YINLING_RASA_PORT", "5005")
    return f"http://{host}:{port}/webhooks/telegram/webhook"


class Delivery(enum.Enum):
    TAKEN = "taken"  # the server has it (accepted, duplicate, ignored)
    REFUSED = "refused"  # the server will never take it (malformed, too large): skip it
    RETRY = "retry"  # the server is busy or down: offer it again later


class Relay:
    """POSTs raw updates to the Rasa server's Telegram webhook with the secret header."""

    def __init__(self, webhook_url: str, secret_token: str, client: httpx.AsyncClient) -> None:
        self.webhook_url = webhook_url
        self._headers = {SECRET_HEADER: secret_token}
        self.client = client

    async def deliver(self, update: Mapping[str, Any]) -> Delivery:
        update_id = update.get("update_id")
        try:
            answer = await self.client.post(self.webhook_url, json=dict(update), headers=self._headers)
        except httpx.HTTPError as err:
            logger.warning("The Rasa server did not take update %s (%s).", update_id, type(err).__name__)
            return Delivery.RETRY
        if answer.is_success:
            return Delivery.TAKEN
        if answer.status_code == 403:
            raise TelegramConfigError(
                "The Rasa server refused the secret token: run the poller with the same TELEGRAM_SECRET_TOKEN "
                "as the server (make run)."
            )
        if answer.status_code in (404, 405):
            raise TelegramConfigError(
                f"No Telegram webhook at {self.webhook_url}: start the server with TELEGRAM_TOKEN and "
                "TELEGRAM_SECRET_TOKEN set (make run switches the channel on), or pass --webhook-url."
            )
        if answer.status_code in (400, 413):
            logger.warning(
                "The Rasa server refused update %s for good (HTTP %d); skipping it.", update_id, answer.status_code
            )
            return Delivery.REFUSED
        logger.warning(
            "The Rasa server answered HTTP %d for update %s; offering it again later.", answer.status_code, update_id
        )
        return Delivery.RETRY


async def fetch_updates(bot: Bot, offset: int | None, timeout: int) -> list[dict[str, Any]]:
    """getUpdates, raw: the relay passes on exactly what Telegram sent, fields PTB does not know included."""
    api_kwargs: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
    if offset is not None:
        api_kwargs["offset"] = offset
    try:
        with warnings.catch_warnings():
            # PTB suggests Bot.get_updates, which returns parsed objects; the relay wants the JSON.
            warnings.simplefilter("ignore", PTBUserWarning)
            result = await bot.do_api_request("getUpdates", api_kwargs=api_kwargs, read_timeout=timeout + 10)
    except TelegramError as err:
        raise TelegramApiError(f"getUpdates failed: {describe_error(err)}") from err
    if not isinstance(result, list):
        raise TelegramApiError("getUpdates answered something other than a list")
    return [u for u in result if isinstance(u, dict)]


async def poll_once(bot: Bot, relay: Relay, offset: int | None, timeout: int) -> tuple[int | None, bool]:
    """One getUpdates round, relayed in order. Returns the next offset and whether the round got through."""
    for update in await fetch_updates(bot, offset, timeout):
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            continue
        if await relay.deliver(update) is Delivery.RETRY:
            # Not confirmed: Telegram hands this update (and the ones after it) out again next time.
            return max(offset or 0, update_id), False
        # Asking for offset = last id + 1 confirms the update to Telegram.
        offset = max(offset or 0, update_id + 1)
    return offset, True


def _backoff(failures: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 6))


async def run_polling(
    settings: TelegramSettings,
    webhook_url: str,
    *,
    rounds: int | None = None,
    poll_timeout: int = LONG_POLL_SECONDS,
) -> None:
    """Poll and relay until cancelled (or for ``rounds`` rounds, for tests)."""
    if not settings.secret_token:
        raise TelegramConfigError(
            "Polling relays updates to the server's webhook, which needs the secret: set TELEGRAM_SECRET_TOKEN "
            "(or secret_token) to the same value as for the server."
        )
    bot = settings.make_bot()
    async with httpx.AsyncClient(timeout=RELAY_TIMEOUT_SECONDS) as client:
        relay = Relay(webhook_url, settings.secret_token, client)
        try:
            try:
                await bot.initialize()
                await bot.delete_webhook(drop_pending_updates=False)
            except InvalidToken as err:
                raise TelegramConfigError("Telegram refused the bot token; check 'token' / TELEGRAM_TOKEN.") from err
            except TelegramError as err:
                raise TelegramApiError(f"Could not start polling: {describe_error(err)}") from err
            logger.info("Polling Telegram; updates go to %s.", webhook_url)
            offset: int | None = None
            done, failures = 0, 0
            while rounds is None or done < rounds:
                done += 1
                try:
                    offset, through = await poll_once(bot, relay, offset, poll_timeout)
                except TelegramApiError as err:
                    cause = err.__cause__
                    if isinstance(cause, InvalidToken):
                        raise TelegramConfigError("Telegram refused the bot token while polling.") from cause
                    failures += 1
                    wait = _backoff(failures)
                    if isinstance(cause, RetryAfter):
                        wait = max(wait, retry_seconds(cause))
                    if isinstance(cause, Conflict):
                        logger.error("Another poller or a webhook is using this bot; retrying in %.0f s.", wait)
                    else:
                        logger.warning("%s; retrying in %.0f s.", describe_error(err), wait)
                    await asyncio.sleep(wait)
                    continue
                if through:
                    failures = 0
                else:
                    failures += 1
                    await asyncio.sleep(_backoff(failures))
        finally:
            with contextlib.suppress(TelegramError):
                await bot.shutdown()


def load_credentials(path: Path) -> dict[str, Any]:
    """The Telegram section of Rasa's credentials file, if there is one (``${VAR}`` is expanded)."""
    if not path.is_file():
        return {}
    from rasa.shared.exceptions import RasaException
    from rasa.shared.utils.io import read_config_file

    try:
        section = read_config_file(path).get(SECTION)
    except RasaException as err:  # e.g. a ${VAR} that is not set
        raise TelegramConfigError(f"Could not read {path}: {err}") from err
    return dict(section) if isinstance(section, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.telegram_polling", description=__doc__.split("\n")[0])
    parser.add_argument("--webhook-url", default=default_webhook_url(), help="the Rasa server's Telegram webhook")
    parser.add_argument("--credentials", type=Path, default=Path("credentials.yml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = TelegramSettings.load(
            load_credentials(args.credentials), require_secret=False, source=str(args.credentials)
        )
        asyncio.run(run_polling(settings, args.webhook_url))
    except TelegramConfigError as err:
        parser.exit(2, f"Configuration error: {err}\n")
    except TelegramChannelError as err:
        parser.exit(1, f"Telegram polling stopped: {err}\n")
    except KeyboardInterrupt:
        logger.info("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
