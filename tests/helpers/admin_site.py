"""Keys and a small commented site config for the ``s9reg registry`` editing tests."""

from __future__ import annotations

from collections.abc import Callable

from s9reg.s9pk.keys import PrivateKey

ADMIN = PrivateKey(b"\x21" * 32)
DEV = PrivateKey(b"\x22" * 32)
OTHER = PrivateKey(b"\x23" * 32)

CONFIG = """\
# A registry for the administration tests.
registry:
  name: Test registry      # the name devices show
  url: https://registry.example.org/

signers:
  - name: Admin
    contact:
      - email: admin@example.org
    keys:
      - file:keys/admin.pub
    admin: true            # may publish anything
  - name: Dev
    keys:
      - file:keys/dev.pub

authorized:                # package → signer → range
  hello:
    Dev: ">=1.0:0"

categories:
  featured:
    name: Featured
    packages: [hello]

packages:
  sources:
    - s9pk/

output: _site
"""

Run = Callable[..., tuple[int, str, str]]
