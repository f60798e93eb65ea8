"""Secret references (``env:NAME``, ``file:PATH``): the one way a config names a secret.

A :class:`SecretRef` is what the config keeps; the secret itself is read only when a command
needs it (:meth:`SecretRef.read`). Nothing here parses YAML or decides which keys hold secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from s9reg._fs import read_small_file
from s9reg.errors import ConfigError, S9regError
from s9reg.s9pk.keys import PrivateKey

__all__ = ["SecretRef"]

#: Largest file a `file:` secret may name: a PEM key is under 1 KiB, a token far less.
MAX_SECRET_BYTES = 64 << 10


@dataclass(frozen=True, slots=True, kw_only=True, repr=False)
class SecretRef:
    """Where a secret comes from: ``env:NAME`` or ``file:PATH``; never the secret itself.

    Attributes:
        scheme: ``"env"`` or ``"file"``.
        name: the environment variable (``env``), or the path as written (``file``).
        path: for ``file``, the path resolved against the config file's directory.
    """

    scheme: Literal["env", "file"]
    name: str
    path: Path | None = None

    def __repr__(self) -> str:
        return f"SecretRef({self.reference!r})"

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """The reference as written in the config, e.g. ``env:S9REG_REGISTRY_KEY``."""
        return f"{self.scheme}:{self.name}"

    def read(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        what: str = "the key",
        where: str | None = None,
    ) -> str:
        """The secret's text: the variable's value, or the file's contents.

        Args:
            environ: environment to read ``env:`` references from; defaults to ``os.environ``.
            what: what the secret is, for the hint when it is missing.
            where: the config key that holds the reference, named in the message.

        Raises:
            ConfigError: the variable is unset or empty, or the file is unreadable.
        """
        label = self.reference if where is None else f"{where} ({self.reference})"
        if self.scheme == "env":
            env = os.environ if environ is None else environ
            text = env.get(self.name)
            if not text:
                raise ConfigError(
                    f"{label}: environment variable {self.name} is not set",
                    hint=f"export {self.name} with {what}",
                )
            return text
        target = self.path if self.path is not None else Path(self.name).expanduser()
        # A regular file, read up to a cap (#16): `file:/dev/zero` was read without end.
        try:
            data = read_small_file(target, "secret", MAX_SECRET_BYTES, error=ConfigError)
        except ConfigError as e:
            raise ConfigError(f"{label}: {e.message}") from None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"{label}: {target} is not UTF-8 text") from e

    def resolve(self, environ: Mapping[str, str] | None = None) -> PrivateKey:
        """Read the PEM the reference points to and parse it as an Ed25519 private key.

        Args:
            environ: environment to read ``env:`` references from; defaults to ``os.environ``.

        Raises:
            ConfigError: the variable is unset, the file is unreadable, or it holds no
                Ed25519 private key. The message never contains key material.
        """
        text = self.read(environ, what="the PEM of the key")
        try:
            return PrivateKey.from_pem(text)
        except S9regError as e:
            raise ConfigError(f"{self.reference}: {e.message}") from None
