"""Run the action server in one process: ``python -m actions.server --port 5055``.

rasa-sdk's own launcher serves through Sanic's worker manager, which imports the actions
once in the manager and again in a spawned worker (so the knowledge index would be built
twice) and refuses to start once any library has fixed multiprocessing's start method
(bm25s does, while indexing). The same rasa-sdk app, served in a single process, has
neither problem.
"""

from __future__ import annotations

import argparse
import logging
import os

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("YINLING_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("YINLING_ACTION_PORT", "5055")))
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
