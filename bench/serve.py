"""Benchmark: ``s9reg serve`` under ``wrk`` load, against nginx serving the same bytes statically.

Builds a registry of ``--packages`` small packages (several versions, flavors, two arches),
starts ``s9reg serve`` on it in a child process, and for each case runs ``wrk`` (``--connections``
connections, ``--duration`` seconds, after a warm-up) against it, then against nginx
(``worker_processes`` = ``--workers``, as many processes as the responder) serving the exact
response body of that case as a static file with ``GET``. Cases: ``info``; ``package.get`` of
all packages; of one id; of one id with an ``X-StartOS-Device-Info`` header (computed, then
cached); the same as a real device sends it, with an ``X-StartOS-Auth-Sig`` whose timestamp and
nonce change on every request (so no two requests are byte-identical); and of one id with a new
JSON-RPC ``id`` on every request (the uncached path: the body is parsed and the answer assembled
each time).

Targets (issue 4): for one-id ``package.get``, at least 0.3x nginx's requests per second and a
p99 latency under 20 ms. The exit code is 0 when both are met. Needs the Debian packages ``wrk``
and ``nginx-light`` (or ``nginx``).
"""

from __future__ import annotations

import argparse
import json
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
    default_type application/json;
    server {{
        listen 127.0.0.1:{port}{ssl};{tls}
        root {root}/www;
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packages", type=int, default=50)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1, help="processes of s9reg serve and nginx")
    ap.add_argument("--tls", action="store_true", help="HTTPS on both sides (keep-alive)")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path("/usr/sbin/nginx").exists():
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="s9reg-bench-serve-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # nginx workers run as an unprivileged user
        t = time.monotonic()
        site = build(root, args.packages)
        print(f"built {args.packages} packages in {time.monotonic() - t:.1f}s")
        port, nport = free_port(), free_port()
        context: ssl.SSLContext | None = None
        tls_args: list[str] = []
        ssl_conf = {"ssl": "", "tls": ""}
        if args.tls:
            cert, key, context = make_certificate(root)
            tls_args = ["--tls-cert", str(cert), "--tls-key", str(key)]
            ssl_conf = {
                "ssl": " ssl",
                "tls": f"\n        ssl_certificate {cert};\n        ssl_certificate_key {key};",
            }
        scheme = "https" if args.tls else "http"
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "s9reg",
                "serve",
                "--site",
                str(site),
                "--listen",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                *tls_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        (root / "www").mkdir()
        (root / "tmp").mkdir()
        (root / "nginx.conf").write_text(
            NGINX_CONF.format(root=root, port=nport, workers=args.workers, **ssl_conf)
        )
        nginx = subprocess.Popen(
            [nginx_bin, "-c", str(root / "nginx.conf"), "-p", str(root)], stderr=subprocess.DEVNULL
        )
        try:
            url = f"{scheme}://127.0.0.1:{port}"
            wait_http(url + "/health", context=context)
            cases = {
                "info": ({"id": 0, "method": "info", "params": {}}, {}),
                "package.get all": (
                    {
                        "id": 0,
                        "method": "package.get",
                        "params": {"id": None, "otherVersions": "short"},
                    },
                    {},
                ),
                "package.get one id": (
                    {
                        "id": 0,
                        "method": "package.get",
                        "params": {"id": "pkg001", "otherVersions": "short"},
                    },
                    {},
                ),
                "package.get one id, device": (
                    {
                        "id": 0,
                        "method": "package.get",
                        "params": {"id": "pkg001", "otherVersions": "short"},
                    },
                    {"X-StartOS-Device-Info": DEVICE},
                ),
                "package.get one id, signed": (
                    {
                        "id": 0,
                        "method": "package.get",
                        "params": {"id": "pkg001", "otherVersions": "short"},
                    },
                    {"X-StartOS-Device-Info": DEVICE},
                ),
                "package.get one id, new ids": (
                    {
                        "id": 0,
                        "method": "package.get",
                        "params": {"id": "pkg001", "otherVersions": "short"},
                    },
                    {},
                ),
            }
            scripts = {
                "package.get one id, signed": SIG_LUA,
                "package.get one id, new ids": UNIQUE_ID_LUA,
            }
            wait_port(nport)
            rows = []
            for i, (name, (request, headers)) in enumerate(cases.items()):
                body = json.dumps(request).encode()
                req = urllib.request.Request(
                    url + "/rpc/v0",
                    data=body,
                    headers={"Content-Type": "application/json", **headers},
                )
                with urllib.request.urlopen(req, context=context) as r:
                    answer = r.read()
                (root / "www" / f"case{i}.json").write_bytes(answer)
                script = lua(
                    root / f"case{i}.lua",
                    body,
                    {"Content-Type": "application/json", **headers},
                    scripts.get(name, ""),
                )
                ours = wrk(url + "/rpc/v0", args.connections, args.duration, script)
                theirs = wrk(
                    f"{scheme}://127.0.0.1:{nport}/case{i}.json",
                    args.connections,
                    args.duration,
                    None,
                )
                rows.append((name, len(answer), ours, theirs))
        finally:
            for proc in (serve, nginx):
                proc.terminate()
                proc.wait(10)
    print(
        f"\n{args.connections} connections, {args.duration}s per run, wrk -t2, "
        f"{args.workers} worker process(es) each{', HTTPS' if args.tls else ''}\n"
    )
    header = ("bytes", "s9reg rps", "p50 ms", "p99 ms", "nginx rps", "p99 ms", "ratio")
    widths = (9, 11, 8, 8, 11, 8, 7)
    print(f"{'case':<28}" + "".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    ok = True
    for name, size, ours, theirs in rows:
        ratio = ours["rps"] / theirs["rps"]
        print(
            f"{name:<28}{size:>9}{ours['rps']:>11.0f}{ours['p50']:>8.2f}{ours['p99']:>8.2f}"
            f"{theirs['rps']:>11.0f}{theirs['p99']:>8.2f}{ratio:>7.2f}"
        )
        if name == "package.get one id":
            ok = ratio >= 0.3 and ours["p99"] < 20
    print(f"\ntarget (one id: >= 0.3x nginx rps, p99 < 20 ms): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
