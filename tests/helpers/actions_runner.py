"""A small stand-in for the GitHub Actions runner: runs a composite action's steps as it would.

It reads ``action.yml`` (or a job of a workflow), evaluates the ``${{ }}`` expressions of
``if:``, ``env:``, ``with:`` and outputs (contexts ``inputs``, ``steps``, ``github``,
``runner``, ``env``, ``vars``, ``secrets``; operators ``! == != && || ( )``; status functions),
and runs each ``run:`` step with bash as the runner does (``bash --noprofile --norc -eo pipefail
FILE``), with ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_PATH`` and ``GITHUB_STEP_SUMMARY``
files. ``uses:`` steps of other repositories are not run (no network, no node): the caller maps
each to a stand-in or skips it, and the run records which were skipped. Expression functions
beyond the status ones (``format``, ``hashFiles``, ``fromJSON``…) are not implemented.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ActionRun", "Runner", "StepResult", "evaluate", "substitute"]

# ---- expressions -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!()\[\],.])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            msg = f"cannot parse expression at {text[pos:]!r}"
            raise ValueError(msg)
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(value: object) -> bool:
    return value not in (None, False, "", 0)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equal(a: object, b: object) -> bool:
    # GitHub compares strings case-insensitively and coerces mixed types to numbers; the
    # expressions here compare strings, booleans and null only.
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if a is None or b is None:
        return _text(a) == _text(b)
    return _text(a).lower() == _text(b).lower()


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], status: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.contexts = contexts
        self.status = status  # "success", "failure" or "cancelled" so far

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            msg = f"expected {value!r} in expression"
            raise ValueError(msg)
        self.pos += 1
        return tok

    def parse(self) -> object:
        value = self.or_()
        if self.peek() is not None:
            msg = f"unexpected {self.peek()} in expression"
            raise ValueError(msg)
        return value

    def or_(self) -> object:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if _truthy(left) else right
        return left

    def and_(self) -> object:
        left = self.eq()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.eq()
            left = right if _truthy(left) else left
        return left

    def eq(self) -> object:
        left = self.unary()
        while self.peek() in {("op", "=="), ("op", "!=")}:
            op = self.take()[1]
            right = self.unary()
            left = _equal(left, right) if op == "==" else not _equal(left, right)
        return left

    def unary(self) -> object:
        if self.peek() == ("op", "!"):
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> object:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            return float(value) if "." in value else int(value)
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind != "name":
            msg = f"unexpected {value!r} in expression"
            raise ValueError(msg)
        if value in {"true", "false"}:
            return value == "true"
        if value == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            self.take(")")
            return self.call(value)
        current: object = self.contexts.get(value)
        while self.peek() == ("op", "."):
            self.take()
            name = self.take()[1]
            current = current.get(name) if isinstance(current, Mapping) else None
        return current

    def call(self, name: str) -> bool:
        if name == "success":
            return self.status == "success"
        if name == "failure":
            return self.status == "failure"
        if name == "cancelled":
            return self.status == "cancelled"
        if name == "always":
            return True
        msg = f"function {name}() is not implemented by this runner"
        raise ValueError(msg)


def evaluate(text: str, contexts: Mapping[str, Any], status: str = "success") -> object:
    """The value of expression ``text`` (without ``${{ }}``)."""
    return _Parser(text, contexts, status).parse()


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def substitute(value: object, contexts: Mapping[str, Any]) -> str:
    """``value`` with every ``${{ expr }}`` replaced by its value as text."""
    text = _text(value)
    return _TEMPLATE.sub(lambda m: _text(evaluate(m.group(1), contexts)), text)


def _condition(text: object, contexts: Mapping[str, Any], status: str) -> bool:
    if text is None:
        return status == "success"
    expr = _text(text).strip()
    m = _TEMPLATE.fullmatch(expr)
    if m is not None:
        expr = m.group(1).strip()
    if not re.search(r"\b(success|failure|cancelled|always)\(\)", expr):
        expr = f"success() && ({expr})"
    return _truthy(evaluate(expr, contexts, status))


# ---- files the runner gives each step ----------------------------------------------------


def _read_commands(path: Path) -> dict[str, str]:
    """``NAME=value`` lines and ``NAME<<DELIM`` … ``DELIM`` blocks (GitHub's file syntax)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            values[name] = "\n".join(body)
        else:
            name, _, value = line.partition("=")
            values[name] = value
    return values


@dataclass
class StepResult:
    """One step as run (or not)."""

    name: str
    ran: bool
    outcome: str = "skipped"  # success | failure | skipped
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    note: str = ""
    seconds: float = 0.0


@dataclass
class ActionRun:
    """A run of an action: each step's result, its outputs and the job summary."""

    steps: list[StepResult]
    outputs: dict[str, str]
    summary: str
    env: dict[str, str]

    @property
    def ok(self) -> bool:
        """Whether no step failed."""
        return all(s.outcome != "failure" for s in self.steps)

    def step(self, name: str) -> StepResult:
        """The step named ``name``."""
        return next(s for s in self.steps if s.name == name)

    @property
    def failed(self) -> StepResult | None:
        """The first step that failed."""
        return next((s for s in self.steps if s.outcome == "failure"), None)


# A stand-in for a `uses:` step: gets the step's evaluated `with:` and the runner; returns
# the step's outputs (it may write GITHUB_ENV through the runner, as the real action would).
StandIn = Callable[[dict[str, str], "Runner"], dict[str, str]]


@dataclass
class Runner:
    """The runner of one job: workspace, temp dir, environment files and the contexts."""

    workspace: Path
    temp: Path
    base_env: dict[str, str]
    github: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    stand_ins: dict[str, StandIn | None] = field(default_factory=dict)
    before_step: Callable[[str], None] | None = None
    exported: dict[str, str] = field(default_factory=dict)  # GITHUB_ENV so far
    path_entries: list[str] = field(default_factory=list)  # GITHUB_PATH so far

    def __post_init__(self) -> None:
        self.temp.mkdir(parents=True, exist_ok=True)
        self.summary_file = self.temp / "step_summary.md"
        self.summary_file.touch()
        self._files = 0

    def export(self, name: str, value: str) -> None:
        """What a step's ``echo NAME=value >> $GITHUB_ENV`` does."""
        self.exported[name] = value

    def _file(self, kind: str) -> Path:
        self._files += 1
        path = self.temp / f"{kind}_{self._files}"
        path.write_text("", encoding="utf-8")
        return path

    def _env(self, step_env: Mapping[str, str]) -> dict[str, str]:
        env = {**self.base_env, **self.exported, **step_env}
        if self.path_entries:
            env["PATH"] = os.pathsep.join([*reversed(self.path_entries), env.get("PATH", "")])
        return env

    def _run_script(
        self, script: str, step_env: Mapping[str, str], action_path: Path | None
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
        files = {k: self._file(k) for k in ("output", "env", "path")}
        script_file = self.temp / f"script_{self._files}.sh"
        script_file.write_text(script, encoding="utf-8")
        env = self._env(step_env)
        env.update(
            GITHUB_OUTPUT=str(files["output"]),
            GITHUB_ENV=str(files["env"]),
            GITHUB_PATH=str(files["path"]),
            GITHUB_STEP_SUMMARY=str(self.summary_file),
            GITHUB_WORKSPACE=str(self.workspace),
            RUNNER_TEMP=str(self.temp),
            CI="true",
            GITHUB_ACTIONS="true",
        )
        if action_path is not None:
            env["GITHUB_ACTION_PATH"] = str(action_path)
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
            cwd=self.workspace, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        self.exported.update(_read_commands(files["env"]))
        self.path_entries += [
            p for p in files["path"].read_text(encoding="utf-8").splitlines() if p
        ]
        return proc, _read_commands(files["output"])

    def run_action(
        self, action_dir: Path, inputs: Mapping[str, str], env: Mapping[str, str] | None = None
    ) -> ActionRun:
        """Run the composite action in ``action_dir`` with ``inputs`` (defaults filled in).

        Args:
            action_dir: the directory of ``action.yml`` (``github.action_path``).
            inputs: the step's ``with:``, evaluated.
            env: the calling step's ``env:``, evaluated (seen by every step of the action).
        """
        spec = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
        declared = spec.get("inputs", {})
        unknown = set(inputs) - set(declared)
        assert not unknown, f"inputs the action does not declare: {unknown}"
        values = {k: _text(v.get("default", "")) for k, v in declared.items()}
        values.update(inputs)
        steps: dict[str, Any] = {}
        contexts: dict[str, Any] = {
            "inputs": values,
            "steps": steps,
            "github": {**self.github, "action_path": str(action_dir)},
            "runner": {"temp": str(self.temp), "os": "Linux"},
            "env": {**self.exported, **(env or {})},
        }
        results: list[StepResult] = []
        status = "success"
        for i, step in enumerate(spec["runs"]["steps"]):
            name = step.get("name") or step.get("id") or f"step {i + 1}"
            contexts["env"] = {**self.exported, **(env or {})}
            if not _condition(step.get("if"), contexts, status):
                results.append(StepResult(name, ran=False, note="if: false"))
                continue
            if self.before_step is not None:
                self.before_step(name)
            started = time.monotonic()
            result = self._step(name, step, contexts, action_dir, env or {})
            result.seconds = time.monotonic() - started
            results.append(result)
            if "id" in step:
                steps[step["id"]] = {
                    "outputs": result.outputs,
                    "outcome": result.outcome,
                    "conclusion": result.outcome,
                }
            if result.outcome == "failure":
                status = "failure"
        outputs = {
            k: substitute(v.get("value", ""), contexts) for k, v in spec.get("outputs", {}).items()
        }
        summary = self.summary_file.read_text(encoding="utf-8")
        return ActionRun(results, outputs, summary, dict(self.exported))

    def _step(
        self,
        name: str,
        step: Mapping[str, Any],
        contexts: Mapping[str, Any],
        action_dir: Path,
        caller_env: Mapping[str, str],
    ) -> StepResult:
        if "uses" in step:
            ref = str(step["uses"])
            repo = ref.partition("@")[0]
            stand_in = self.stand_ins.get(repo)
            if stand_in is None:
                # Not run: a third-party action (node, network), which the caller must name.
                assert repo in self.stand_ins, f"no stand-in and no skip for {ref}"
                return StepResult(name, ran=False, note=f"third-party {repo}: not run")
            with_ = {k: substitute(v, contexts) for k, v in (step.get("with") or {}).items()}
            outputs = stand_in(with_, self)
            return StepResult(name, ran=True, outcome="success", outputs=outputs)
        assert step.get("shell") == "bash", f"{name}: composite run steps need shell: bash"
        step_env = {
            **caller_env,
            **{k: substitute(v, contexts) for k, v in (step.get("env") or {}).items()},
        }
        proc, outputs = self._run_script(str(step["run"]), step_env, action_dir)
        return StepResult(
            name,
            ran=True,
            outcome="success" if proc.returncode == 0 else "failure",
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            outputs=outputs,
        )

    def run_job(
        self,
        workflow: Path,
        job: str,
        local_actions: Mapping[str, Path],
    ) -> tuple[list[StepResult], ActionRun | None]:
        """Run one job of ``workflow``: its ``uses:`` of ``local_actions`` run as actions.

        Job-level ``if:`` is not evaluated here (the caller checks it with :func:`evaluate`).

        Returns:
            Each step's result, and the run of the (last) local action.
        """
        spec = yaml.safe_load(workflow.read_text(encoding="utf-8"))
        job_spec = spec["jobs"][job]
        contexts: dict[str, Any] = {
            "github": self.github,
            "vars": self.vars,
            "secrets": self.secrets,
            "runner": {"temp": str(self.temp), "os": "Linux"},
            "steps": {},
        }
        results: list[StepResult] = []
        action_run: ActionRun | None = None
        status = "success"
        for i, step in enumerate(job_spec["steps"]):
            name = step.get("name") or step.get("id") or step.get("uses") or f"step {i + 1}"
            contexts["env"] = dict(self.exported)
            if not _condition(step.get("if"), contexts, status):
                results.append(StepResult(name, ran=False, note="if: false"))
                continue
            ref = str(step.get("uses", ""))
            if ref in local_actions:
                with_ = {k: substitute(v, contexts) for k, v in (step.get("with") or {}).items()}
                env = {k: substitute(v, contexts) for k, v in (step.get("env") or {}).items()}
                action_run = self.run_action(local_actions[ref], with_, env)
                failed = action_run.failed
                result = StepResult(
                    name,
                    ran=True,
                    outcome="failure" if failed else "success",
                    outputs=action_run.outputs,
                )
            elif ref:
                result = self._step(name, step, contexts, Path(), {})
            else:
                env = {k: substitute(v, contexts) for k, v in (step.get("env") or {}).items()}
                proc, outputs = self._run_script(str(step["run"]), env, None)
                result = StepResult(
                    name,
                    ran=True,
                    outcome="success" if proc.returncode == 0 else "failure",
                    returncode=proc.returncode,
                    stdout=proc.stdout,
                    stderr=proc.stderr,
                    outputs=outputs,
                )
            results.append(result)
            if "id" in step:
                contexts["steps"][step["id"]] = {"outputs": result.outputs}
            if result.outcome == "failure":
                status = "failure"
        return results, action_run
