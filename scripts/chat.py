"""Terminal chat against the running Rasa server's REST channel (``make chat``).

The REST channel wants ``Authorization: Bearer <YINLING_REST_TOKEN>``: taken from the environment,
else from ``var/secrets.json``, where ``make run`` keeps the secrets it made.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("YINLING_REST_URL", "http://127.0.0.1:5005/webhooks/rest/webhook")
SECRETS = ROOT / "var" / "secrets.json"
TOKEN_VARIABLE = "YINLING_REST_TOKEN"  # noqa: S105 - the name of the variable


def rest_token(secrets_file: Path = SECRETS, env: dict[str, str] | None = None) -> str | None:
    """The REST token from the environment, else from the secrets file ``make run`` wrote; None if neither."""
    token = (os.environ if env is None else env).get(TOKEN_VARIABLE, "").strip()
    if token:
        return token
    try:
        stored = json.loads(secrets_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = stored.get(TOKEN_VARIABLE) if isinstance(stored, dict) else None
    return value if isinstance(value, str) and value else None


def _refusal(err: urllib.error.HTTPError) -> str:
    """What to tell the person at the terminal about an error answer (its own words, when it has some)."""
    try:
        body = json.loads(err.read().decode())
    except ValueError:
        body = {}
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        return str(body["text"])
    if err.code == 401:
        return f"服务器不认这个令牌。请确认 {TOKEN_VARIABLE} 与运行中的服务器一致（见 {SECRETS}）。"
    reason = body.get("error") if isinstance(body, dict) else None
    return f"服务器回答了 {err.code}：{reason or err.reason}"


def main() -> int:
    token = rest_token()
    if token is None:
        print(f"找不到 REST 令牌：请先运行 make run（它会生成 {SECRETS}），或设置 {TOKEN_VARIABLE}。", file=sys.stderr)
        return 2
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    print(f"银龄助手 — 输入您的问题，回车发送；输入 /quit 退出。 ({URL})")
    while True:
        try:
            text = input("您：").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not text:
            continue
        if text in ("/quit", "/exit"):
            return 0
        request = urllib.request.Request(
            URL,
            data=json.dumps({"sender": sender, "message": text}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                replies = json.loads(response.read().decode())
        except urllib.error.HTTPError as err:
            print(f"（{_refusal(err)}）", file=sys.stderr)
            continue
        except (urllib.error.URLError, OSError) as err:
            print(f"（连不上服务器：{err}。请先在另一个终端运行 make run。）", file=sys.stderr)
            continue
        for reply in replies:
            if reply.get("text"):
                print(f"助手：{reply['text']}")
            for button in reply.get("buttons") or []:
                print(f"      [{button.get('title')}]")


if __name__ == "__main__":
    sys.exit(main())
