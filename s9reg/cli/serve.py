"""``s9reg serve``: answer StartOS devices and serve the site's files from a built site."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from s9reg import config
from s9reg.cli._app import App, config_option, console_err
from s9reg.serve import ServeError, run


def _listen(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        msg = f"expected HOST:PORT (IPv6 as [::1]:PORT), got {value!r}"
        raise click.BadParameter(msg, param_hint="--listen")
    return host, int(port)


def _setup_logging(verbose: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("s9reg")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    root.propagate = False


def _site_origin(site: str | None, cfg: config.SiteConfig | None, config_path: Path) -> str:
    """Where the site to serve was named, for a hint that fits what the user did."""
    if site is not None:
        source = click.get_current_context().get_parameter_source("site")
        return "S9REG_SITE" if source == ParameterSource.ENVIRONMENT else "--site"
    if cfg is not None and cfg.serve.site is not None:
        return f"serve.site in {config_path}"
    return f"output in {config_path}"


def _check_local_site(site: str | None, origin: str) -> None:
    """A local site must be a directory; say how to fix it where it was named."""
    if site is None or site.startswith(("s3://", "http://", "https://")):
        return
    if Path(site).expanduser().is_dir():
        return
    if origin.startswith("output "):
        hint = "run s9reg build first, or pass --site DIR|s3://…|https://…"
    else:
        hint = f"{origin} must name a built site: DIR, s3://bucket/prefix or https://…"
    raise ServeError(f"{site}: not a directory (from {origin})", hint=hint)


@click.command()
@click.option(
    "--site", envvar="S9REG_SITE",
    help="Built site: DIR, s3://bucket/prefix or https://base/ (default: serve.site or output "
    "from the configuration). Env S9REG_SITE.",
)  # fmt: skip
@click.option(
    "--listen", envvar="S9REG_LISTEN",
    help="HOST:PORT to listen on (default: serve.listen, else 127.0.0.1:5959). Env S9REG_LISTEN.",
)  # fmt: skip
@click.option(
    "--workers", type=click.IntRange(1, 64), envvar="S9REG_WORKERS",
    help="Processes answering on the one socket (default: serve.workers, else 1; the number "
    "of cores uses them all). Env S9REG_WORKERS.",
)  # fmt: skip
@click.option(
    "--tls-cert",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="S9REG_TLS_CERT",
    help="Serve HTTPS with this PEM certificate chain (with --tls-key; a renewed file is picked "
    "up at the next site refresh). Env S9REG_TLS_CERT.",
)
@click.option(
    "--tls-key",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="S9REG_TLS_KEY",
    help="The certificate's PEM private key. Env S9REG_TLS_KEY.",
)
@config_option("Site configuration (optional with --site).")
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True,
    help="Log one line per request on stderr (written in batches, about once a second).",
)  # fmt: skip
@click.pass_obj
def serve(  # noqa: PLR0913, PLR0917 - one parameter per option
    app: App,
    site: str | None,
    listen: str | None,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    config_path: Path,
    *,
    access_log: bool,
) -> None:
    """Answer StartOS devices and browsers from a built site until SIGINT or SIGTERM.

    POST /rpc/v0 speaks the registry's JSON-RPC; GET serves the site's files, /health and
    /metrics. A remote site is checked for a new index.json every refresh_interval seconds.
    """
    address = _listen(listen)
    cfg = None
    if config_path.exists() or site is None:
        cfg = config.load(config_path)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = (tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    settings = config.serve_settings(cfg, site=site, listen=address, workers=workers, tls=tls)
    _check_local_site(settings.site, _site_origin(site, cfg, config_path))
    _setup_logging(app.verbose)

    def ready(host: str, port: int) -> None:
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if settings.tls_cert is not None else "http"
        url = f"{scheme}://{shown}:{port}/"
        many = f" with {settings.workers} workers" if settings.workers > 1 else ""
        console_err(f"Serving {settings.site} at {url}{many}")
        console_err(f"Add {url} as a registry in StartOS (behind HTTPS for remote devices).")

    if not access_log:
        logging.getLogger("s9reg.serve.access").setLevel(logging.WARNING)
    run(settings, ready=ready, access_stream=sys.stderr if access_log else None)
