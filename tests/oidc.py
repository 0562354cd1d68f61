"""A real OpenID Connect provider for the single sign-on tests: oidc-provider-mock, in a thread,
on 127.0.0.1. It accepts any client id, secret and redirect URI. Its sign-in page has one field,
`sub`; the claims a sub signs in with (its e-mail) are set beforehand (`users`)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

import oidc_provider_mock


@contextlib.contextmanager
def oidc_provider(users: Mapping[str, Mapping[str, object]]) -> Iterator[str]:
    """The provider's issuer URL, "http://127.0.0.1:PORT" (one spelling for the app and the browser:
    the issuer in its tokens is built from the Host the request named)."""
    claims = [oidc_provider_mock.User(sub=sub, claims=dict(c)) for sub, c in users.items()]
    with oidc_provider_mock.run_server_in_thread(port=0, user_claims=claims) as server:  # "localhost": 127.0.0.1 only
        yield f"http://127.0.0.1:{server.server_port}"


def auth_secrets(path: Path, issuer: str, app_port: int, **more: str) -> Path:
    """A secrets.toml with Streamlit's [auth] section for that provider, and `more` top-level keys."""
    lines = [f'{key} = "{value}"' for key, value in more.items()]
    lines += [
        "[auth]",
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"',
        f'cookie_secret = "{secrets.token_hex(32)}"',
        'client_id = "mnist-lab-test"',
        'client_secret = "not-a-secret"',
        f'server_metadata_url = "{issuer}/.well-known/openid-configuration"',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
