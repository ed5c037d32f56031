from __future__ import annotations

import pytest
from rasa.__main__ import create_argument_parser

from bot.server import jwt_arguments

# secrets.token_urlsafe draws from A–Z, a–z, 0–9, "-" and "_": one secret in 64 starts with "-".
DASHED = "-Qx3_kT9vLmN2pR7sW1yZ4"


@pytest.mark.parametrize("secret", [DASHED, "--looks-like-an-option-1234", "plainSecret_0123456789"])
def test_any_secret_reaches_rasa_as_the_jwt_secret(secret: str) -> None:
    extra = jwt_arguments(["run", "--enable-api"], {"YINLING_RASA_JWT_SECRET": secret})
    assert len(extra) == 1
    parsed = create_argument_parser().parse_args(["run", "--enable-api", "--jwt-method", "HS256", *extra])
    assert parsed.jwt_secret == secret


def test_a_secret_given_on_the_command_line_is_left_alone() -> None:
    assert jwt_arguments(["run", "--enable-api", f"--jwt-secret={DASHED}"], {}) == []
    assert jwt_arguments(["run", "--enable-api", "--jwt-secret", "x" * 20], {}) == []


def test_without_the_api_there_is_no_secret_and_with_it_a_short_one_is_refused() -> None:
    assert jwt_arguments(["run"], {}) == []
    with pytest.raises(SystemExit, match="16"):
        jwt_arguments(["run", "--enable-api"], {"YINLING_RASA_JWT_SECRET": "short"})
