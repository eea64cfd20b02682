"""The harness's client of a labgrid coordinator: places, their resources, reservations.

labgrid's `ClientSession` is asyncio code; here it runs on one event loop in its own
thread (shared by every client in the process), and every call from a worker (or
the main thread on Ctrl-C) is handed to that loop and waited for with a deadline.
The session mirrors the coordinator's places and resources as the coordinator
pushes them, so "is the exporter of this place still there" is a look-up, not a
round trip.

The address is ``--coordinator``, else the bench's ``coordinator`` key, else
labgrid's own ``LG_COORDINATOR``; a bare host gets labgrid's port 20408.

While it holds a place, the client holds the place's lease on this host
(harness/farm/leases.py), so a place left acquired by a harness process that is
gone (SIGKILL) can be told from one a live run works on (`left_behind`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import BoardError, ConfigError
from harness.farm import leases
from harness.interrupts import shielded
from harness.paths import default_state_dir

log = logging.getLogger(__name__)

ENV_VAR = "LG_COORDINATOR"
DEFAULT_PORT = 20408
CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 30.0       # one coordinator request (acquire waits for the exporter)
POLL_S = 0.5                # how often a waiting reservation is polled (that also keeps it)
T = TypeVar("T")


class FarmError(BoardError):
    """A place cannot be had or was lost; the message names it."""


def coordinator_address(option: str | None, bench_key: str | None) -> str:
    """``--coordinator``, the bench's ``coordinator``, or ``LG_COORDINATOR``, in that order."""
    address = option or bench_key or os.environ.get(ENV_VAR)
    if not address:
        raise ConfigError("command line", "--coordinator",
                          f"no labgrid coordinator: give --coordinator HOST[:PORT], the bench's "
                          f"coordinator key, or set {ENV_VAR}")
    return address if ":" in address.rsplit("]", 1)[-1] else f"{address}:{DEFAULT_PORT}"


@dataclass(frozen=True)
class Resource:
    """One exported resource as the coordinator knows it."""

    exporter: str
    group: str
    cls: str
    name: str
    params: Mapping[str, Any]
    avail: bool
    acquired: str | None    # the place holding it

    @property
    def path(self) -> str:
        return f"{self.exporter}/{self.group}/{self.cls}/{self.name}"


@dataclass(frozen=True)
class Place:
    name: str
    tags: Mapping[str, str]
    acquired: str | None            # "host/user" holding it
    reservation: str | None         # the token it is allocated to, if any
    resources: tuple[Resource, ...]  # what it matches now (what it holds, once acquired)
    orphaned: tuple[str, ...] = field(default=())  # held resources whose exporter is gone
    comment: str = ""

    def first(self, cls: str) -> Resource | None:
        return next((r for r in self.resources if r.cls == cls), None)

    @property
    def lost(self) -> str | None:
        """Why the place cannot run a job now (None: it can)."""
        if self.orphaned:
            return f"its exporter disconnected ({', '.join(self.orphaned)} gone)"
        serial = self.first("NetworkSerialPort")
        if serial is None:
            return "it has no serial port exported (no NetworkSerialPort matches it)"
        if not serial.avail:
            return f"its serial port {serial.path} is not available"
        return None


class FarmClient:
    """A connection to one coordinator, usable from any thread. ``run`` names the harness
    run whose places these are (in their leases); ``state_dir`` holds the leases."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT_S,
                 run: str = "", state_dir: Path | None = None) -> None:
        self.address = address
        self.run = run
        self._state_dir = state_dir or default_state_dir()
        self._loop = _shared_loop()
        self._held: dict[str, str | None] = {}   # place -> reservation token, held by us
        self._leases: dict[str, leases.Lease] = {}  # place -> its lease, while held
        self._tokens: set[str] = set()            # every reservation we have not cancelled
        self._lock = threading.Lock()
        self._acquiring = 0         # acquire requests in flight
        self._closing = False       # close() has begun: nothing more is acquired
        self._settled = threading.Condition(self._lock)
        self._session = self._call(self._connect(), connect_timeout)

    # --- plumbing --------------------------------------------------------------------

    async def _connect(self) -> Any:
        from labgrid.remote.client import ClientSession, ServerError

        session = ClientSession(self.address, self._loop)
        try:
            await session.start()
        except ServerError as exc:
            await session.close()
            raise FarmError(f"labgrid coordinator {self.address} is unreachable ({exc}); is "
                            "labgrid-coordinator running there?") from None
        return session

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise FarmError(f"labgrid coordinator {self.address} did not answer within "
                            f"{timeout:.0f} s") from None

    async def _rpc(self, method: str, request: Any, what: str) -> Any:
        import grpc

        try:
            reply = await getattr(self._session.stub, method)(request)
        except grpc.aio.AioRpcError as exc:
            raise FarmError(f"{what}: coordinator {self.address} says: {exc.details()}") \
                from None
        await self._session.sync_with_coordinator()   # our mirror has the change too
        return reply

    def close(self) -> None:
        """Release what we hold, cancel our reservations, disconnect. Ctrl-C and SIGTERM
        wait until it is done (harness/interrupts.py); workers acquire nothing more, and
        an acquire already asked for is waited for, so its place is released too."""
        with shielded():
            with self._lock:
                self._closing = True
                self._settled.wait_for(lambda: not self._acquiring, CALL_TIMEOUT_S)
            self.release_all()
            try:
                self._call(self._disconnect(), 5.0)
            except FarmError as exc:
                log.warning("%s", exc)

    async def _disconnect(self) -> None:
        await self._session.stop()
        await self._session.close()

    # --- what the coordinator knows -------------------------------------------------

    def places(self) -> dict[str, Place]:
        return self._call(self._places())

    async def _places(self) -> dict[str, Place]:
        session = self._session
        if session.stopping.is_set():
            raise FarmError(f"lost the connection to labgrid coordinator {self.address}")
        return {name: self._place(p) for name, p in sorted(session.places.items())}

    def _place(self, place: Any) -> Place:
        resources, orphaned = [], []
        if place.acquired:
            for path in place.acquired_resources:
                exporter, group, _cls, name = path
                entry = self._session.resources.get(exporter, {}).get(group, {}).get(name)
                if entry is None or not entry.data:
                    orphaned.append("/".join(path))
                else:
                    resources.append(_resource(exporter, group, name, entry))
        else:
            for exporter, groups in sorted(self._session.resources.items()):
                for group, entries in sorted(groups.items()):
                    for name, entry in sorted(entries.items()):
                        if entry.data and place.hasmatch((exporter, group, entry.cls, name)):
                            resources.append(_resource(exporter, group, name, entry))
        return Place(place.name, dict(place.tags), place.acquired or None,
                     place.reservation or None, tuple(resources), tuple(orphaned),
                     place.comment or "")

    def place(self, name: str) -> Place:
        """The place called ``name``; FarmError naming it (and the known ones) if none is."""
        places = self.places()
        if name not in places:
            raise FarmError(f"place {name!r}: no such place on coordinator {self.address} "
                            f"(places: {', '.join(places) or 'none'})")
        return places[name]

    @property
    def me(self) -> str:
        """How the coordinator names this client when it holds a place (host/user)."""
        return f"{self._session.gethostname()}/{self._session.getuser()}"

    # --- reserving, acquiring, releasing ---------------------------------------------

    def reserve(self, name: str) -> str:
        """A reservation for place ``name``; its token. The coordinator allocates the place
        to it once nobody holds it (reservations are served in order)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = pb.CreateReservationRequest(
            filters={"main": pb.Reservation.Filter(filter={"name": name})}, prio=0.0)
        reply = self._call(self._rpc("CreateReservation", request, f"place {name!r}"))
        token = str(reply.reservation.token)
        with self._lock:
            self._tokens.add(token)
        return token

    def allocated(self, token: str) -> bool:
        """Is the reservation's place ours to acquire now (polling also keeps it alive)?"""
        from labgrid.remote.common import Reservation, ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        reply = self._call(self._rpc("PollReservation", pb.PollReservationRequest(token=token),
                                     f"reservation {token}"))
        state = Reservation.from_pb2(reply.reservation).state
        if state in (ReservationState.expired, ReservationState.invalid):
            raise FarmError(f"reservation {token} is {state.name}")
        return state in (ReservationState.allocated, ReservationState.acquired)

    def cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        with self._lock:
            self._tokens.discard(token)
        try:
            self._call(self._rpc("CancelReservation", pb.CancelReservationRequest(token=token),
                                 f"reservation {token}"), 10.0)
        except FarmError as exc:
            log.warning("%s", exc)

    def wait_and_acquire(self, name: str, wait_s: float,
                         give_up: Callable[[], bool] = lambda: False) -> Place | None:
        """Reserve ``name``, wait up to ``wait_s`` for it to be free, acquire it.

        A place someone else holds is waited for, never taken: after ``wait_s`` this
        raises FarmError saying who holds it. None when ``give_up()`` says to stop waiting.
        """
        token = self.reserve(name)
        try:
            deadline = time.monotonic() + wait_s
            while not self.allocated(token):
                if give_up():
                    self.cancel(token)
                    return None
                if time.monotonic() >= deadline:
                    held = self.place(name)
                    by = held.acquired or (f"reservation {held.reservation}"
                                           if held.reservation else "someone else")
                    raise FarmError(f"place {name!r} is held by {by}; waited {wait_s:.0f} s "
                                    "for it (it is not taken from its holder)")
                time.sleep(POLL_S)
            place = self.acquire(name, token)
        except BaseException:
            self.cancel(token)
            raise
        return place

    def acquire(self, name: str, token: str | None = None) -> Place:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        place = self.place(name)
        if place.lost:     # acquiring would give us a place without its board
            raise FarmError(f"place {name!r} cannot run jobs: {place.lost}")
        with self._lock:     # before asking: a Ctrl-C from here on releases it
            if self._closing:
                raise FarmError(f"place {name!r}: not acquired: the run is stopping")
            self._held[name] = token
            self._acquiring += 1
        try:
            self._take_lease(name, token)
            self._call(self._rpc("AcquirePlace", pb.AcquirePlaceRequest(placename=name),
                                 f"place {name!r}: acquire"))
        except BaseException:
            with self._lock:
                self._held.pop(name, None)
                lease = self._leases.pop(name, None)
            if lease is not None:
                lease.release()
            raise
        finally:
            with self._lock:
                self._acquiring -= 1
                self._settled.notify_all()
        log.info("acquired place %s", name)
        return self.place(name)

    def _lease_path(self, name: str) -> Path:
        return leases.lease_path(self._state_dir, self.address, name)

    def _take_lease(self, name: str, token: str | None) -> None:
        record = leases.LeaseRecord(name, self.address, self.me, self.run, os.getpid(),
                                    datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                    token)
        lease = leases.take(self._lease_path(name), record)
        if lease is None:   # the coordinator gave it to us, yet a live process here has it
            _, other = leases.read(self._lease_path(name))
            whose = f" (run {other.run}, pid {other.pid})" if other else ""
            raise FarmError(f"place {name!r}: another harness process on this host still "
                            f"holds its lease{whose}; it is not used twice")
        with self._lock:
            self._leases[name] = lease

    def holds(self, name: str) -> bool:
        """Do we hold place ``name`` (acquired, or being acquired) now?"""
        with self._lock:
            return name in self._held

    def release(self, name: str) -> None:
        """Release a place we hold, and cancel its reservation (never raises: a place whose
        exporter is gone is released as far as the coordinator lets us). Only while we
        hold it: a place someone took from us (release --kick) is not taken from them."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        with self._lock:
            if name not in self._held:
                return
            token = self._held.pop(name)
            lease = self._leases.pop(name, None)
        try:
            self._call(self._rpc("ReleasePlace",
                                 pb.ReleasePlaceRequest(placename=name, fromuser=self.me),
                                 f"place {name!r}: release"), 10.0)
            log.info("released place %s", name)
            if lease is not None:
                lease.release()
        except FarmError as exc:    # still held: the lease keeps its record (left_behind)
            log.warning("%s", exc)
            if lease is not None:
                lease.abandon()
        if token is not None:
            self.cancel(token)

    def left_behind(self, name: str) -> leases.LeaseRecord | None:
        """The lease of a harness process on this host that acquired place ``name`` and
        ended without releasing it (SIGKILL, a crash, its host went down), if this host
        and user hold the place still; None otherwise (free, someone else's, a live run's,
        or acquired by hand: no lease names it)."""
        place = self.place(name)
        if place.acquired != self.me:
            return None
        alive, record = leases.read(self._lease_path(name))
        if alive or record is None or record.place != name or record.holder != self.me:
            return None
        return record

    def reclaim(self, name: str, record: leases.LeaseRecord) -> None:
        """Release a place `left_behind` found (only if ``record``'s holder still has it),
        cancel the ended process's reservation, and clear its lease."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._call(self._rpc("ReleasePlace",
                             pb.ReleasePlaceRequest(placename=name, fromuser=record.holder),
                             f"place {name!r}: release"), 10.0)
        if record.token is not None:
            with self._lock:
                self._tokens.add(record.token)
            self.cancel(record.token)
        leases.clear(self._lease_path(name))

    def release_all(self) -> None:
        """Everything we hold or wait for: released and cancelled (run end, failure, Ctrl-C)."""
        with self._lock:
            held = list(self._held)
            tokens = set(self._tokens) - {t for t in self._held.values() if t}
        for name in held:
            self.release(name)
        for token in tokens:
            self.cancel(token)

    def create_place(self, name: str, matches: list[str], tags: Mapping[str, str]) -> None:
        """What ``labgrid-client -p NAME create / add-match / set-tags`` do (a lab's set-up)."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        what = f"place {name!r}"
        self._call(self._rpc("AddPlace", pb.AddPlaceRequest(name=name), what))
        for pattern in matches:
            self._call(self._rpc("AddPlaceMatch",
                                 pb.AddPlaceMatchRequest(placename=name, pattern=pattern), what))
        self._call(self._rpc("SetPlaceTags",
                             pb.SetPlaceTagsRequest(placename=name, tags=dict(tags)), what))

    def exporters(self) -> set[str]:
        """The exporters connected now (as far as they export anything)."""
        return self._call(self._exporters())

    async def _exporters(self) -> set[str]:
        return {name for name, groups in self._session.resources.items()
                if any(entry.data for group in groups.values() for entry in group.values())}

    def serial_url(self, name: str, timeout: float = 10.0) -> str:
        """The RFC 2217 URL of an acquired place's serial port, once its exporter serves it.

        ``ign_set_control``: ser2net 4 does not answer RFC 2217's SET_CONTROL.
        """
        deadline = time.monotonic() + timeout
        while True:
            place = self.place(name)
            if place.lost:
                raise FarmError(f"place {name!r}: lost: {place.lost}")
            serial = place.first("NetworkSerialPort")
            assert serial is not None   # place.lost says so otherwise
            port = serial.params.get("port")
            if port:
                return f"rfc2217://{serial.params['host']}:{port}?ign_set_control"
            if time.monotonic() >= deadline:
                raise FarmError(f"place {name!r}: its exporter {serial.exporter} did not "
                                f"start serving {serial.path} within {timeout:.0f} s")
            time.sleep(0.1)


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _shared_loop() -> asyncio.AbstractEventLoop:
    """The one event loop (and thread) of every FarmClient in this process: gRPC's asyncio
    layer does not take channels on several loops at once."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="labgrid-client",
                             daemon=True).start()
        return _loop


def _resource(exporter: str, group: str, name: str, entry: Any) -> Resource:
    return Resource(exporter, group, str(entry.cls), name, dict(entry.params),
                    bool(entry.avail), entry.acquired or None)
