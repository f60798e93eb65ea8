"""The publisher: one publish against a target, from the lease to the late deletions.

The steps and their order are :mod:`s9reg.publish.engine`'s contract (publishing-lessons.md);
what to upload is planned by :mod:`s9reg.publish.plan`.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from s9reg.errors import S9regError
from s9reg.publish.errors import (
    PublishConflictError,
    PublishError,
    PublishInterruptedError,
    StorageError,
)
from s9reg.publish.plan import (
    Action,
    LocalObject,
    PlanItem,
    PublishProgress,
    PublishReport,
    phase_order,
    plan_sync,
    retention,
    same_object,
    scan_site,
)
from s9reg.publish.policy import CACHE_IMMUTABLE, Phase, state_headers
from s9reg.publish.settings import PublishSettings
from s9reg.publish.state import (
    POINTER_KEY,
    STATE_DIR,
    Generation,
    Lease,
    Manifest,
    ObjectEntry,
    Pointer,
    Takeover,
    format_time,
    manifest_key,
)
from s9reg.publish.target import PreconditionFailedError, Target

__all__ = ["Plan", "Publisher", "local_process", "taking"]


_RESUME_HINT = "run s9reg publish again: it resumes (nothing already stored is sent again)"


def _name_step(e: S9regError, step: str, state: str) -> None:
    """Say in ``e``'s message which step of the publish failed and what is live now."""
    e.message = f"{step} failed: {e.message}; {state}"
    e.args = (e.message,)
    if e.hint is None:
        e.hint = _RESUME_HINT


def taking(pointer: Pointer, lease: Lease) -> Pointer:
    """``pointer`` with ``lease``, recording the takeover when another lease was held."""
    old = pointer.lease
    if old is None:
        return pointer.with_lease(lease)
    broken = Takeover(owner=old.owner, started=old.started, at=lease.started, by=lease.owner)
    return replace(pointer.with_lease(lease), takeover=broken)


def local_process(owner: str) -> bool | None:
    """Whether a lease owner (``host:pid``) of this machine is running; None if not of this one."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


@dataclass(slots=True, kw_only=True)
class Plan:
    previous: Pointer
    uploads: list[PlanItem]
    header_updates: list[PlanItem]
    objects: dict[str, ObjectEntry]
    resume: bool
    changed: bool
    generation: int
    history: list[Generation]
    kept: int = 0
    resumed: int = 0
    retained: list[Generation] = field(default_factory=list)
    expired: list[Generation] = field(default_factory=list)
    deletions: list[PlanItem] = field(default_factory=list)
    deferred: bool = False

    @property
    def cleanup(self) -> bool:
        return bool(self.expired or self.deletions) and not self.deferred


class Publisher:
    def __init__(
        self,
        settings: PublishSettings,
        target: Target,
        progress: PublishProgress,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.target = target
        self.progress = progress
        self.clock = clock
        self.etag: str | None = None
        self.pointer = Pointer()
        self.warnings: list[str] = []
        self._last_beat = datetime.min.replace(tzinfo=UTC)
        self._holding = False
        self._released = False
        self._manifests: dict[int, dict[str, ObjectEntry] | None] = {}

    # --- state ------------------------------------------------------------------------------

    def _read_pointer(self) -> None:
        got = self.target.read(POINTER_KEY)
        if got is not None:
            self.pointer = Pointer.from_json(got[0], f"{self.target}: {POINTER_KEY}")
            self.etag = got[1]

    def _manifest(self, generation: int) -> Manifest | None:
        key = manifest_key(generation)
        got = self.target.read(key)
        return None if got is None else Manifest.from_json(got[0], f"{self.target}: {key}")

    def _cas(self, pointer: Pointer) -> None:
        """Replace the pointer only if it is still the one this publish last read or wrote."""
        try:
            self.etag = self.target.write(
                POINTER_KEY,
                pointer.to_json(),
                state_headers(),
                if_match=self.etag,
                if_none_match=self.etag is None,
            )
        except PreconditionFailedError:
            if not self._holding:
                msg = f"{self.target}: another publish changed {POINTER_KEY} at the same time"
                hint = "nothing of this publish is live; run it again when the other is done"
            else:
                msg = f"{self.target}: another publish took over this one's lease (--break-lock)"
                hint = "this publish did not move the pointer; run it again when the other is done"
            raise PublishConflictError(msg, hint=hint) from None
        self.pointer = pointer

    def _confirm(self, lease: Lease) -> None:
        """Read the pointer back after writing ``lease``, before anything is uploaded.

        The conditional write alone decides on a store whose ``If-Match`` is atomic; reading
        the pointer back also catches a store (or proxy) where two such writes both succeed:
        only the publish whose lease is stored goes on, the other stops having written nothing.

        Raises:
            PublishConflictError: another publish changed the pointer, or holds it now.
        """
        got = self.target.read(POINTER_KEY)
        stored = None if got is None else Pointer.from_json(got[0], f"{self.target}: {POINTER_KEY}")
        if got is None or stored is None or stored.lease is None or stored.lease.id != lease.id:
            self._holding = False
            msg = f"{self.target}: another publish changed {POINTER_KEY} at the same time"
            hint = "nothing of this publish is live; run it again when the other is done"
            raise PublishConflictError(msg, hint=hint)
        self.etag = got[1]

    def _check_lease(self, now: datetime) -> None:
        lease = self.pointer.lease
        if lease is None:
            return
        age = int((now - lease.heartbeat).total_seconds())
        here = local_process(lease.owner)
        if here is False and not self.settings.break_lock:
            # A publish of this machine whose process is gone (killed, or a failure that
            # could not release the lease): no need to wait for its heartbeat to go stale.
            self.warnings.append(
                f"taking over the lease of {lease.owner}, a publish on this machine that is no "
                f"longer running (started {format_time(lease.started)})"
            )
            return
        if age < self.settings.lease_seconds and not self.settings.break_lock:
            msg = (
                f"{self.target}: a publish by {lease.owner} (started {format_time(lease.started)},"
                f" last heartbeat {age} s ago) is in progress"
            )
            if here:
                hint = "it is running on this machine: wait for it, then run again"
            else:
                hint = (
                    f"wait for it and run again; if it died, run again in "
                    f"{self.settings.lease_seconds - age} s or with --break-lock"
                )
            if self.settings.dry_run:
                self.warnings.append(f"{msg}; {hint}")
                return
            raise PublishConflictError(msg, hint=hint)
        self.warnings.append(
            f"taking over the lease of an interrupted publish by {lease.owner} "
            f"(started {format_time(lease.started)})"
        )

    def _heartbeat(self, *, force: bool = False) -> None:
        lease = self.pointer.lease
        if lease is None:
            return
        now = self.clock()
        interval = timedelta(seconds=max(self.settings.lease_seconds / 3, 1))
        if force or now - self._last_beat >= interval:
            self._cas(self.pointer.with_lease(replace(lease, heartbeat=now)))
            self._last_beat = now

    # --- main -------------------------------------------------------------------------------

    def run(self) -> PublishReport:
        s = self.settings
        try:
            local = scan_site(s.site, s.jobs)
            plan = self.plan_sync(local)
        except KeyboardInterrupt:
            live = (
                f"generation {self.pointer.generation} is live" if self.pointer.generation else ""
            )
            msg = f"{self.target}: interrupted while planning: nothing was changed"
            raise PublishInterruptedError(f"{msg}; {live}" if live else msg) from None
        if s.dry_run:
            return self._report(plan, local, [] if plan.deferred else plan.deletions)
        if not (plan.changed or plan.resume or plan.cleanup):
            return self._report(plan, local, [])
        self._publish(plan, local)
        self._clean(plan)
        return self._report(plan, local, plan.deletions if plan.cleanup else [])

    def plan_sync(self, local: dict[str, LocalObject]) -> Plan:
        s = self.settings
        now = self.clock()
        self._read_pointer()
        self._check_lease(now)
        previous = self.pointer
        if s.expect_generation is not None and previous.generation != s.expect_generation:
            msg = (
                f"{self.target}: generation {previous.generation} is live, not generation "
                f"{s.expect_generation} this publish was prepared from"
            )
            raise PublishConflictError(msg, hint="run it again to add to the newer generation")
        live: dict[str, ObjectEntry] = {}
        if previous.generation:
            manifest = self._manifest(previous.generation)
            if manifest is None:
                key = manifest_key(previous.generation)
                msg = f"{self.target}: {POINTER_KEY} names a missing manifest {key}"
                raise PublishError(msg, hint="restore it, or delete the pointer to start over")
            live = manifest.objects
        uploads, header_updates, objects = plan_sync(local, live, now)
        kept = {k: e for k, e in live.items() if k not in local} if s.overlay else {}
        if kept and (previous.lease is not None or previous.dirty):
            kept = self._stored(kept, now)
        objects.update(kept)
        self.warnings.extend(
            f"{i.key} changed, but it is served as immutable: caches may keep the old bytes"
            for i in uploads
            if i.reason == "changed" and local[i.key].headers.cache_control == CACHE_IMMUTABLE
        )
        plan = Plan(
            previous=previous,
            uploads=uploads,
            header_updates=header_updates,
            objects=objects,
            resume=previous.lease is not None or previous.dirty,
            changed=objects != live or not previous.generation,
            generation=previous.generation,
            history=list(previous.history),
            kept=len(kept),
        )
        if plan.resume:
            # An interrupted publish may have overwritten objects this plan calls unchanged
            # (a rollback to the live site after a killed publish of another one): every
            # object is checked, not only the planned uploads.
            plan.uploads, plan.header_updates, plan.resumed = self._reconcile(
                uploads, header_updates, local
            )
        if plan.changed:
            plan.generation += 1
            if plan.history:
                plan.history[-1] = replace(plan.history[-1], retired=now)
            plan.history.append(Generation(number=plan.generation, published=now))
        grace = timedelta(seconds=s.grace_seconds)
        plan.retained, plan.expired = retention(plan.history, s.keep_generations, grace, now)
        if plan.expired:
            plan.deletions = self._deletions(plan)
        if plan.changed or plan.resume or plan.expired:
            # Listing costs requests: a no-op publish (two reads) does not look for orphans.
            plan.deletions += self._orphans(plan, now)
        if len(plan.deletions) > s.max_delete:
            plan.deferred = True
            self.warnings.append(
                f"{len(plan.deletions)} objects are due for deletion, more than --max-delete "
                f"{s.max_delete}: none deleted"
            )
        return plan

    def _stored(self, kept: dict[str, ObjectEntry], now: datetime) -> dict[str, ObjectEntry]:
        """Entries of kept objects as stored now: an interrupted publish may have replaced some."""
        with ThreadPoolExecutor(max_workers=self.settings.jobs) as pool:
            remote = dict(zip(kept, pool.map(self.target.head, kept), strict=True))
        out: dict[str, ObjectEntry] = {}
        for key, entry in kept.items():
            got = remote[key]
            if got is None:
                self.warnings.append(f"{key} is listed as published but missing: left out")
            elif got.sha256 == entry.sha256 and got.size == entry.size:
                out[key] = entry
            elif got.sha256 is not None:
                self.warnings.append(f"{key} was replaced by an interrupted publish: kept so")
                out[key] = ObjectEntry(
                    sha256=got.sha256, size=got.size, headers=got.headers, first_published=now
                )
            else:
                self.warnings.append(f"{key} has no recorded SHA-256: left out")
        return out

    def _report(
        self, plan: Plan, local: dict[str, LocalObject], deleted: Sequence[PlanItem]
    ) -> PublishReport:
        done = self.settings.dry_run or plan.changed
        return PublishReport(
            target=str(self.target),
            generation=plan.generation if done else plan.previous.generation,
            previous_generation=plan.previous.generation,
            dry_run=self.settings.dry_run,
            uploads=tuple(plan.uploads),
            header_updates=tuple(plan.header_updates),
            deletions=tuple(deleted),
            deferred_deletions=len(plan.deletions) if plan.deferred else 0,
            unchanged=len(local) - len(plan.uploads) - len(plan.header_updates) - plan.resumed,
            kept=plan.kept,
            resumed=plan.resumed,
            orphans=sum(1 for d in deleted if d.reason == "orphan"),
            warnings=tuple(self.warnings),
        )

    def _publish(self, plan: Plan, local: dict[str, LocalObject]) -> None:
        now = self.clock()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        lease = Lease(id=uuid.uuid4().hex, owner=owner, started=now, heartbeat=now)
        self._cas(taking(self.pointer, lease))
        self._holding = True
        self._last_beat = now
        step = "starting"
        try:
            self._confirm(lease)
            if plan.resume:
                step = "aborting unfinished multipart uploads"
                self.target.abort_uploads(now)
            for phase in Phase:
                items = [i for i in (*plan.uploads, *plan.header_updates) if i.phase == phase]
                if items:
                    step = f"uploading the {phase.label} phase"
                    self._run_phase(phase, items, local)
            if plan.changed:
                manifest = Manifest(generation=plan.generation, created=now, objects=plan.objects)
                key = manifest_key(plan.generation)
                step = f"writing the manifest {key}"
                self.target.write(key, manifest.to_json(), state_headers())
                step = f"moving {POINTER_KEY} to generation {plan.generation}"
                self._cas(
                    Pointer(
                        generation=plan.generation,
                        history=tuple(plan.history),
                        lease=self.pointer.lease,
                        dirty=False,
                        takeover=self.pointer.takeover,
                    )
                )
        except PublishConflictError:
            raise
        except KeyboardInterrupt:
            state = self._state_after_failure(dirty=True)
            msg = f"{self.target}: interrupted while {step}: {state}"
            raise PublishInterruptedError(msg, hint=_RESUME_HINT) from None
        except S9regError as e:
            _name_step(e, step, self._state_after_failure(dirty=True))
            raise
        except Exception:
            self._release(dirty=True)
            raise

    def _clean(self, plan: Plan) -> None:
        history = self.pointer.history
        gen = self.pointer.generation
        step = "deleting old objects"
        try:
            if plan.cleanup:
                if plan.deletions:
                    step = f"deleting {len(plan.deletions)} old objects"
                    self._heartbeat(force=True)
                    self._run_deletions([d.key for d in plan.deletions])
                if plan.expired:
                    step = f"deleting {len(plan.expired)} expired manifests"
                    self.target.delete([manifest_key(g.number) for g in plan.expired])
                history = tuple(plan.retained)
            step = f"releasing the lease (writing {POINTER_KEY})"
            self._cas(replace(self.pointer, history=history, lease=None, dirty=False))
        except PublishConflictError:
            raise
        except KeyboardInterrupt:
            state = self._state_after_failure(dirty=False, live=f"generation {gen} is live")
            msg = f"{self.target}: interrupted while {step}: {state}"
            hint = "run s9reg publish again to finish the cleanup"
            raise PublishInterruptedError(msg, hint=hint) from None
        except Exception as e:
            state = self._state_after_failure(dirty=False, live=f"generation {gen} is live")
            why = e.message if isinstance(e, S9regError) else str(e)
            msg = f"{self.target}: {step} failed: {why}; {state}"
            hint = "run s9reg publish again to finish the cleanup"
            if not self._released:
                hint = self._lease_hint()
            raise PublishError(msg, hint=hint) from e

    def _state_after_failure(self, *, dirty: bool, live: str | None = None) -> str:
        """Release the lease and say what is live and whether the lease is still held."""
        self._release(dirty=dirty)
        gen = self.pointer.generation
        unchanged = f"the live registry is unchanged (generation {gen})" if gen else ""
        live = live or unchanged or "nothing is published yet"
        if self._released:
            return f"{live}; the lease was released"
        return f"{live}; the lease could not be released ({self._lease_hint()})"

    def _lease_hint(self) -> str:
        return (
            f"the next publish takes it over after {self.settings.lease_seconds} s, or at "
            "once with --break-lock"
        )

    def _release(self, *, dirty: bool) -> None:
        """Best effort: drop the lease so the next run need not wait for it to go stale."""
        try:
            self._cas(self.pointer.with_lease(None, dirty=dirty))
            self._released = True
        except (PublishError, StorageError):
            # The lease stays and goes stale; the next run takes it over.
            self._released = False

    # --- work -------------------------------------------------------------------------------

    def _reconcile(
        self,
        uploads: list[PlanItem],
        header_updates: list[PlanItem],
        local: dict[str, LocalObject],
    ) -> tuple[list[PlanItem], list[PlanItem], int]:
        """The plan after an interrupted publish, from one HEAD per object of the site.

        Planned uploads already stored as the site has them are dropped (resumed); objects
        the plan leaves alone but storage holds with other bytes are uploaded again
        (``overwritten``), or get their headers back (``headers``).
        """
        keys = sorted(local)
        with ThreadPoolExecutor(max_workers=self.settings.jobs) as pool:
            remote = dict(zip(keys, pool.map(self.target.head, keys), strict=True))
        planned = {i.key for i in uploads}
        out: list[PlanItem] = []
        resumed = 0
        for item in uploads:
            got, obj = remote[item.key], local[item.key]
            if got is not None and same_object(got, obj) and got.headers == obj.headers:
                resumed += 1
            else:
                out.append(item)
        fixes: list[PlanItem] = []
        headers = {i.key for i in header_updates}
        for key in keys:
            got, obj = remote[key], local[key]
            if key in planned:
                continue
            if got is None or not same_object(got, obj):
                out.append(PlanItem(Action.UPLOAD, key, obj.size, "overwritten", obj.phase))
                headers.discard(key)
            elif got.headers != obj.headers and key not in headers:
                fixes.append(PlanItem(Action.HEADERS, key, obj.size, "headers", obj.phase))
        overwritten = sum(1 for i in out if i.reason == "overwritten")
        if overwritten:
            self.warnings.append(
                f"{overwritten} objects were not stored as this site has them (an interrupted "
                "publish overwrote or removed them): uploaded again"
            )
        order = {k: n for n, k in enumerate(phase_order(local.values()))}
        out.sort(key=lambda i: order[i.key])
        fixed = [i for i in header_updates if i.key in headers] + fixes
        fixed.sort(key=lambda i: order[i.key])
        return out, fixed, resumed

    def _run_phase(
        self, phase: Phase, items: list[PlanItem], local: dict[str, LocalObject]
    ) -> None:
        nbytes = sum(i.size for i in items if i.action == Action.UPLOAD)
        self.progress.phase(phase.label, len(items), nbytes)

        def one(item: PlanItem) -> None:
            obj = local[item.key]
            if item.action == Action.UPLOAD:
                self.target.upload(
                    item.key, obj.path, obj.headers, obj.sha256, self.progress.advance
                )
            else:
                self.target.set_headers(item.key, obj.headers, obj.sha256)

        self._parallel(one, items)

    def _run_deletions(self, keys: list[str]) -> None:
        batches = [keys[n : n + 1000] for n in range(0, len(keys), 1000)]
        self.progress.phase("delete", len(keys), 0)
        self._parallel(self.target.delete, batches)

    def _parallel(self, fn: Callable[[Any], None], items: Sequence[Any]) -> None:
        """Run ``fn`` over ``items`` on ``jobs`` threads, renewing the lease while waiting."""
        pool = ThreadPoolExecutor(max_workers=self.settings.jobs)
        try:
            pending: set[Future[None]] = {pool.submit(fn, i) for i in items}
            wait_s = max(self.settings.lease_seconds / 3, 1)
            while pending:
                done, pending = wait(pending, timeout=wait_s, return_when=FIRST_EXCEPTION)
                for f in done:
                    f.result()
                self._heartbeat()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _deletions(self, plan: Plan) -> list[PlanItem]:
        keep = set(plan.objects)
        for gen in plan.retained:
            # The newest generation is ``plan.objects`` (its manifest may not exist yet).
            if gen.number != plan.generation:
                keep |= set(self._objects_of(gen))
        due: dict[str, int] = {}
        for gen in plan.expired:
            for key, entry in self._objects_of(gen).items():
                if key not in keep:
                    due[key] = entry.size
        return [PlanItem(Action.DELETE, k, due[k], "unreferenced") for k in sorted(due)]

    def _objects_of(self, gen: Generation) -> dict[str, ObjectEntry]:
        return self._listed_by(gen) or {}

    def _listed_by(self, gen: Generation) -> dict[str, ObjectEntry] | None:
        if gen.number not in self._manifests:
            manifest = self._manifest(gen.number)
            if manifest is None:
                self.warnings.append(f"manifest of generation {gen.number} is missing")
            self._manifests[gen.number] = None if manifest is None else manifest.objects
        return self._manifests[gen.number]

    def _orphans(self, plan: Plan, now: datetime) -> list[PlanItem]:
        """Objects stored under the target that no generation lists, older than the grace time.

        An abandoned publish leaves such objects (its uploads that never went live); nothing
        else would ever delete them. Nothing is an orphan while a retained manifest is missing.
        """
        keep = set(plan.objects)
        for gen in plan.retained:
            if gen.number != plan.generation:
                listed = self._listed_by(gen)
                if listed is None:
                    self.warnings.append("orphaned objects are not deleted until it is restored")
                    return []
                keep |= set(listed)
        keep |= {d.key for d in plan.deletions}
        grace = timedelta(seconds=self.settings.grace_seconds)
        return [
            PlanItem(Action.DELETE, key, obj.size, "orphan")
            for key, obj in sorted(self.target.list().items())
            if not key.startswith(f"{STATE_DIR}/")
            and key not in keep
            and now - obj.modified >= grace
        ]
