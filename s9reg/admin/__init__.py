"""Registry administration: upstream's ``start-cli registry …`` operations on ``site-config.yaml``.

Each operation reads the configuration through :func:`s9reg.config.edit`, changes it the way
upstream's ``start-registryd`` changes its database (signers, admins, authorized ranges,
categories, removals, mirrors, OS releases), and commits, so the file is validated before it is
replaced and is byte-identical after any refusal. Read operations answer from a built site.
This package does not print, parse command lines or publish; the CLI (``s9reg.cli.registry``)
does that.
"""
