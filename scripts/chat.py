"""Terminal chat against the running Rasa server's REST channel (``make chat``)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

URL = os.environ.get("YINLING_REST_URL", "http://127.0.0.1:5005/webhooks/rest/webhook")


def main() -> int:
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
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                replies = json.loads(response.read().decode())
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
