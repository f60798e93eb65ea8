"""Benchmark: ``s9reg serve`` under ``wrk`` load, beside well-kept servers answering the same.

Builds a registry of ``--packages`` small packages (several versions, flavors, two arches) and
starts, each with ``--workers`` processes, on its own port:

* ``s9reg serve`` (its own HTTP/1.1 responder, ``s9reg.serve.http``);
* uvicorn with httptools, on uvloop (``uvicorn``) and on the standard asyncio loop
  (``uvicorn-asyncio``), and granian (its Rust HTTP stack and runtime thread), both running
  ``bench/s9reg_asgi.py``: s9reg's own routing and answers (and the same answer cache) behind
  their HTTP layer;
* nginx, serving the exact answer of each JSON-RPC case as a static file (``GET``), and the
  site's files from the built site.

Every server's answer is checked to be byte-identical to s9reg's before it is measured. Then
for each case ``wrk`` (``--connections`` connections, ``--duration`` seconds, after a 1 s
warm-up) runs against each server in turn. JSON-RPC cases: ``info``; ``package.get`` of all
packages; of one id; of one id with an ``X-StartOS-Device-Info`` header (computed, then cached);
the same as a real device sends it, with an ``X-StartOS-Auth-Sig`` whose timestamp and nonce
change on every request (so no two requests are byte-identical); and of one id with a new
JSON-RPC ``id`` on every request (the uncached path: the body is parsed and the answer
assembled each time). Site files (``GET``): ``index.json``, the catalogue's front page, an icon.

Targets (issue 4): for one-id ``package.get``, at least 0.3x nginx's requests per second and a
p99 latency under 20 ms. The exit code is 0 when both are met. Needs the Debian packages ``wrk``
and ``nginx-light`` (or ``nginx``), and the ``bench`` extra (uvicorn, httptools, uvloop, granian).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from s9reg.builder import BuildSettings, build_site
from s9reg.registry.model import Guid, SignerInfo
from s9reg.s9pk.demo import demo_package_tree
from s9reg.s9pk.keys import PrivateKey
from s9reg.s9pk.writer import write_archive_file

KEY = PrivateKey(b"\x31" * 32)
BENCH = Path(__file__).resolve().parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEVICE = (
    "os.version=0.4.0-beta.10&os.compat=%3E%3D0.3.0%3A0+%3C%3D0.4.0-beta.10%3A0"
    "&os.platform=x86_64&os.language=en_US"
)
NGINX_CONF = """\
daemon off;
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    include /etc/nginx/mime.types;
    server {{
        listen 127.0.0.1:{port}{ssl};{tls}
        root {site};
        location /_cases/ {{ alias {root}/www/; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certificate(root: Path) -> tuple[Path, Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1 (Debian's ``openssl``), and a client context."""
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o644)  # nginx reads it as the same user here; a benchmark key, thrown away
    return cert, key, ssl.create_default_context(cafile=str(cert))


def wait_http(url: str, timeout: float = 20, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return


def build(root: Path, packages: int) -> Path:
    src = root / "src"
    src.mkdir()
    paths = []
    for i in range(packages):
        pid = f"pkg{i:03d}"
        versions = ["1.0.0:0", "1.1.0:0"] + (["#knots:1.0.0:0"] if i % 5 == 0 else [])
        for v in versions:
            path = src / f"{pid}-{v.replace('#', '').replace(':', '_')}.s9pk"
            write_archive_file(path, demo_package_tree(pid, v, arches=("x86_64", "aarch64")), KEY)
            paths.append(path)
    g = Guid.generate(b"bench")
    settings = BuildSettings(
        name="Bench",
        api_url="http://127.0.0.1/",
        file_urls=("http://127.0.0.1/",),
        signers={g: SignerInfo("Bench", (), (KEY.public_key.to_pem(),))},
        admins=frozenset({g}),
        sources=tuple(paths),
        output=root / "site",
        source_date_epoch=1,
    )
    build_site(settings)
    return root / "site"


# Shaped like a device's signature header; the server checks it only for `index`.
SIG_LUA = """
local n = 0
request = function()
    n = n + 1
    wrk.headers["X-StartOS-Auth-Sig"] = "timestamp=" .. os.time() .. "&nonce=" .. n
        .. "&size=" .. #wrk.body .. "&blake3=" .. string.rep("A", 43)
        .. "&signer=-----BEGIN+PUBLIC+KEY-----%0A" .. string.rep("B", 60)
        .. "%0A-----END+PUBLIC+KEY-----%0A&signature=-----BEGIN+SIGNATURE-----%0A"
        .. string.rep("C", 100) .. "%0A-----END+SIGNATURE-----%0A"
    return wrk.format()
end
"""
# A new JSON-RPC id on every request: no answer cache can help.
UNIQUE_ID_LUA = """
local n = 0
local template = wrk.body
request = function()
    n = n + 1
    return wrk.format(nil, nil, nil, (template:gsub('^{"id": 0', '{"id": ' .. n)))
end
"""


def lua(path: Path, body: bytes, headers: dict[str, str], extra: str = "") -> Path:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def parse_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(text)
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "us" else value * 1000 if m.group(2) == "s" else value


def wrk(url: str, connections: int, duration: int, script: Path | None) -> dict[str, float]:
    def cmd(seconds: int) -> list[str]:
        extra = ["-s", str(script)] if script is not None else []
        return ["wrk", *extra, f"-c{connections}", "-t2", f"-d{seconds}s", "--latency", url]

    subprocess.run(cmd(1), capture_output=True, check=True)  # warm-up
    out = subprocess.run(cmd(duration), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = parse_ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = parse_ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    return {"rps": rps, "p50": p50, "p99": p99}


SERVERS = ("s9reg", "uvicorn", "uvicorn-asyncio", "granian", "nginx")


def start_servers(
    root: Path, site: Path, names: list[str], workers: int, tls: tuple[Path, Path] | None
) -> dict[str, tuple[int, subprocess.Popen[bytes]]]:
    """Start each server on its own port: s9reg serve, the ASGI servers, nginx."""
    env = {**os.environ, "S9REG_BENCH_SITE": str(site)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH), str(BENCH.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    bindir = Path(sys.executable).parent
    app = "s9reg_asgi:create_app"
    started: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    for name in names:
        port = free_port()
        if name == "s9reg":
            tls_args = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
            cmd = [sys.executable, "-m", "s9reg", "serve", "--site", str(site), "--listen",
                   f"127.0.0.1:{port}", "--workers", str(workers), *tls_args]  # fmt: skip
        elif name.startswith("uvicorn"):
            loop = "asyncio" if name == "uvicorn-asyncio" else "uvloop"
            tls_args = ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])] if tls else []
            cmd = [str(bindir / "uvicorn"), "--factory", app, "--port", str(port),
                   "--http", "httptools", "--loop", loop, "--workers", str(workers),
                   "--no-access-log", "--no-server-header", "--log-level", "warning",
                   *tls_args]  # fmt: skip
        elif name == "granian":
            tls_args = (
                ["--ssl-certificate", str(tls[0]), "--ssl-keyfile", str(tls[1])] if tls else []
            )
            cmd = [str(bindir / "granian"), "--interface", "asgi", "--factory", app,
                   "--port", str(port), "--workers", str(workers), "--log-level", "warning",
                   "--no-ws", *tls_args]  # fmt: skip
        else:
            (root / "nginx.conf").write_text(
                NGINX_CONF.format(
                    root=root, site=site, port=port, workers=workers, **nginx_tls(tls)
                )
            )
            cmd = [NGINX, "-c", str(root / "nginx.conf"), "-p", str(root)]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root, env=env
        )
        started[name] = (port, proc)
    return started


def nginx_tls(tls: tuple[Path, Path] | None) -> dict[str, str]:
    if tls is None:
        return {"ssl": "", "tls": ""}
    return {
        "ssl": " ssl",
        "tls": f"\n        ssl_certificate {tls[0]};\n        ssl_certificate_key {tls[1]};",
    }


def cases(site: Path) -> dict[str, tuple[dict[str, object] | str, dict[str, str], str]]:
    """Case name: (a JSON-RPC request, or the path of a site file to GET; headers; wrk script)."""
    one = {"id": 0, "method": "package.get", "params": {"id": "pkg001", "otherVersions": "short"}}
    every = {"id": 0, "method": "package.get", "params": {"id": None, "otherVersions": "short"}}
    device = {"X-StartOS-Device-Info": DEVICE}
    icon = min(p.name for p in (site / "_icons").iterdir())
    return {
        "info": ({"id": 0, "method": "info", "params": {}}, {}, ""),
        "package.get all": (every, {}, ""),
        "package.get one id": (one, {}, ""),
        "package.get one id, device": (one, device, ""),
        "package.get one id, signed": (one, device, SIG_LUA),
        "package.get one id, new ids": (one, {}, UNIQUE_ID_LUA),
        "GET /index.json": ("/index.json", {}, ""),
        "GET / (catalogue)": ("/", {}, ""),
        "GET an icon": (f"/_icons/{icon}", {}, ""),
    }


def fetch(
    url: str, body: bytes | None, headers: dict[str, str], context: ssl.SSLContext | None
) -> bytes:
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, context=context) as r:
        return bytes(r.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=50)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1, help="processes of every server")
    ap.add_argument("--tls", action="store_true", help="HTTPS on every side (keep-alive)")
    ap.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, from {', '.join(SERVERS)} (s9reg is always measured)",
    )
    ap.add_argument("--cases", default="", help="only the cases whose name contains this text")
    args = ap.parse_args()
    names = ["s9reg", *(n for n in args.servers.split(",") if n in SERVERS and n != "s9reg")]
    if shutil.which("wrk") is None or ("nginx" in names and not Path(NGINX).exists()):
        raise SystemExit("wrk or nginx is missing: apt-get install wrk nginx-light")
    for tool in ("uvicorn", "granian"):
        if (
            any(n.startswith(tool) for n in names)
            and not (Path(sys.executable).parent / tool).exists()
        ):
            raise SystemExit(f"{tool} is missing: pip install -e '.[bench]'")
    rows: list[tuple[str, int, dict[str, dict[str, float]]]] = []
    with tempfile.TemporaryDirectory(prefix="s9reg-bench-serve-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx workers run as an unprivileged user
        t = time.monotonic()
        site = build(root, args.packages)
        print(f"built {args.packages} packages in {time.monotonic() - t:.1f}s")
        context: ssl.SSLContext | None = None
        tls: tuple[Path, Path] | None = None
        if args.tls:
            cert, key, context = make_certificate(root)
            tls = (cert, key)
        scheme = "https" if args.tls else "http"
        (root / "www").mkdir()
        (root / "tmp").mkdir()
        servers = start_servers(root, site, names, args.workers, tls)
        try:
            base = {n: f"{scheme}://127.0.0.1:{port}" for n, (port, _) in servers.items()}
            wait_http(base["s9reg"] + "/health", context=context)
            for name in names[1:]:
                wait_port(servers[name][0], timeout=30)
            selected = {k: v for k, v in cases(site).items() if args.cases in k}
            for i, (case, (request, extra_headers, extra)) in enumerate(selected.items()):
                figures: dict[str, dict[str, float]] = {}
                if isinstance(request, str):  # a site file, GET from every server
                    answer = fetch(base["s9reg"] + request, None, {}, context)
                    for name in names:
                        if fetch(base[name] + request, None, {}, context) != answer:
                            raise SystemExit(f"{name} answers {case} differently")
                        figures[name] = wrk(
                            base[name] + request, args.connections, args.duration, None
                        )
                    rows.append((case, len(answer), figures))
                    continue
                body = json.dumps(request).encode()
                headers = {"Content-Type": "application/json", **extra_headers}
                answer = fetch(base["s9reg"] + "/rpc/v0", body, headers, context)
                (root / "www" / f"case{i}.json").write_bytes(answer)
                script = lua(root / f"case{i}.lua", body, headers, extra)
                for name in names:
                    if name == "nginx":  # the same answer as a static file
                        url = f"{base[name]}/_cases/case{i}.json"
                        figures[name] = wrk(url, args.connections, args.duration, None)
                        continue
                    if fetch(base[name] + "/rpc/v0", body, headers, context) != answer:
                        raise SystemExit(f"{name} answers {case} differently")
                    figures[name] = wrk(
                        base[name] + "/rpc/v0", args.connections, args.duration, script
                    )
                rows.append((case, len(answer), figures))
        finally:
            for _, proc in servers.values():
                proc.terminate()
            for _, proc in servers.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return report(args, names, rows)


def report(
    args: argparse.Namespace,
    names: list[str],
    rows: list[tuple[str, int, dict[str, dict[str, float]]]],
) -> int:
    print(
        f"\n{args.connections} connections, {args.duration}s per run, wrk -t2, "
        f"{args.workers} worker process(es) each{', HTTPS' if args.tls else ''}; "
        "x s9reg = requests per second relative to s9reg serve\n"
    )
    print(
        f"{'case':<28}{'bytes':>8}  {'server':<16}"
        f"{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'x s9reg':>9}"
    )
    ok = True
    for case, size, figures in rows:
        ours = figures["s9reg"]
        for j, name in enumerate(names):
            f = figures[name]
            label = f"{case:<28}{size:>8}" if j == 0 else " " * 36
            print(
                f"{label}  {name:<16}{f['rps']:>9.0f}{f['p50']:>8.2f}{f['p99']:>8.2f}"
                f"{f['rps'] / ours['rps']:>9.2f}"
            )
        if case == "package.get one id" and "nginx" in figures:
            ok = ours["rps"] / figures["nginx"]["rps"] >= 0.3 and ours["p99"] < 20
    print(f"\ntarget (one id: >= 0.3x nginx rps, p99 < 20 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
