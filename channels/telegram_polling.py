"""Telegram without a public URL: long-poll ``getUpdates`` and answer through the running Rasa server.

For local use and demos, when Telegram cannot reach this machine. Start the servers
(``make run``), then in another terminal::

    TELEGRAM_TOKEN=123456:ABC... .venv-rasa/bin/python -m channels.telegram_polling

Options: ``--rasa-url`` (default ``http://$YINLING_HOST:$YINLING_RASA_PORT/webhooks/rest/webhook``,
i.e. ``http://127.0.0.1:5005/webhooks/rest/webhook``) and ``--credentials`` (default
``credentials.yml``; its ``channels.telegram.TelegramInput`` section is read if present,
then the TELEGRAM_* environment variables; no secret token is needed here).

How it works, and why: each update goes through the same :class:`channels.telegram.UpdateHandler`
as the webhook (commands, "text only" notice, buttons, deduplication), and only the step
"hand the message to Rasa" differs: it is POSTed to the Rasa server's REST channel
(``{"sender": "telegram:<chat id>", "message": ..., "metadata": {"channel": "telegram"}}``) and
the returned bot messages are sent to Telegram. So this process needs no Rasa model of its
own, and the conversation (sender id) is the same as in webhook mode. In Rasa's tracker
the input channel reads ``rest``; the metadata says ``telegram``.

At start it deletes any webhook of the bot (Telegram refuses ``getUpdates`` while one is set),
keeping pending updates: do not run it while a webhook deployment of the same bot is live.
Updates are handled one after another, in order. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx
from rasa.core.channels.channel import UserMessage
from telegram import Bot
from telegram.error import Conflict, InvalidToken, RetryAfter, TelegramError

from channels.dedupe import make_deduplicator
from channels.telegram import (
    ALLOWED_UPDATES,
    CHANNEL,
    OfferedButtons,
    OnNewMessage,
    TelegramApiError,
    TelegramChannelError,
    TelegramConfigError,
    TelegramSettings,
    UpdateHandler,
    describe_error,
    retry_seconds,
)

logger = logging.getLogger(__name__)

CREDENTIALS_KEY: Final = "channels.telegram.TelegramInput"
LONG_POLL_SECONDS: Final = 30
MAX_BACKOFF_SECONDS: Final = 60.0
# Rasa may call the action server and the knowledge base before answering.
REST_TIMEOUT_SECONDS: Final = 60.0


def default_rasa_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    host = env.get("YINLING_HOST", "127.0.0.1")
    port = env.get("YINLING_RASA_PORT", "5005")
    return f"http://{host}:{port}/webhooks/rest/webhook"


class RestForwarder:
    """An ``on_new_message`` that asks a running Rasa server's REST channel and relays its answers."""

    def __init__(self, rasa_url: str, client: httpx.AsyncClient) -> None:
        self.rasa_url = rasa_url
        self.client = client

    async def __call__(self, message: UserMessage) -> None:
        payload = {"sender": message.sender_id, "message": message.text, "metadata": message.metadata}
        try:
            reply = await self.client.post(self.rasa_url, json=payload)
            reply.raise_for_status()
            bot_messages = reply.json()
        except (httpx.HTTPError, ValueError) as err:
            raise TelegramChannelError(f"The Rasa REST channel did not answer: {type(err).__name__}") from err
        if not isinstance(bot_messages, list):
            raise TelegramChannelError("The Rasa REST channel answered something other than a list of messages.")
        for bot_message in bot_messages:
            if isinstance(bot_message, dict):
                # The collector adds recipient_id; passing it on would clash with send_response's argument.
                bot_message = {k: v for k, v in bot_message.items() if k != "recipient_id"}
                await message.output_channel.send_response(message.sender_id, bot_message)


async def poll_once(
    bot: Bot, handler: UpdateHandler, on_new_message: OnNewMessage, offset: int | None, timeout: int
) -> int | None:
    """One getUpdates round; handles every update in order and returns the next offset."""
    try:
        updates = await bot.get_updates(offset=offset, timeout=timeout, allowed_updates=list(ALLOWED_UPDATES))
    except TelegramError as err:
        raise TelegramApiError(f"getUpdates failed: {describe_error(err)}") from err
    for update in updates:
        # Asking for offset = last id + 1 confirms the update to Telegram.
        offset = max(offset or 0, update.update_id + 1)
        if not await handler.is_new(update):
            continue
        try:
            await handler.process(update, on_new_message)
        except TelegramApiError:
            logger.debug("Telegram update %s: the send error was logged where it happened.", update.update_id)
        except Exception as err:  # noqa: BLE001 - one failed update must not stop the others
            logger.error("Telegram update %s could not be answered: %s", update.update_id, describe_error(err))
    return offset


def _backoff(failures: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2.0 ** min(failures, 6))


async def run_polling(
    settings: TelegramSettings,
    rasa_url: str,
    *,
    rounds: int | None = None,
    poll_timeout: int = LONG_POLL_SECONDS,
) -> None:
    """Poll until cancelled (or for ``rounds`` rounds, for tests)."""
    bot = settings.make_bot()
    handler = UpdateHandler(bot, settings.bot_id, make_deduplicator(CHANNEL), OfferedButtons())
    async with httpx.AsyncClient(timeout=REST_TIMEOUT_SECONDS) as client:
        forward = RestForwarder(rasa_url, client)
        try:
            try:
                await bot.initialize()
                await bot.delete_webhook(drop_pending_updates=False)
            except InvalidToken as err:
                raise TelegramConfigError("Telegram refused the bot token; check 'token' / TELEGRAM_TOKEN.") from err
            except TelegramError as err:
                raise TelegramApiError(f"Could not start polling: {describe_error(err)}") from err
            logger.info("Polling Telegram; answers come from %s.", rasa_url)
            offset: int | None = None
            done, failures = 0, 0
            while rounds is None or done < rounds:
                done += 1
                try:
                    offset = await poll_once(bot, handler, forward, offset, poll_timeout)
                    failures = 0
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
        section = read_config_file(path).get(CREDENTIALS_KEY)
    except RasaException as err:  # e.g. a ${VAR} that is not set
        raise TelegramConfigError(f"Could not read {path}: {err}") from err
    return dict(section) if isinstance(section, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.telegram_polling", description=__doc__.split("\n")[0])
    parser.add_argument("--rasa-url", default=default_rasa_url(), help="the Rasa server's REST webhook")
    parser.add_argument("--credentials", type=Path, default=Path("credentials.yml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = TelegramSettings.load(load_credentials(args.credentials), require_secret=False)
        asyncio.run(run_polling(settings, args.rasa_url))
    except TelegramConfigError as err:
        parser.exit(2, f"Configuration error: {err}\n")
    except TelegramChannelError as err:
        parser.exit(1, f"Telegram polling stopped: {err}\n")
    except KeyboardInterrupt:
        logger.info("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
