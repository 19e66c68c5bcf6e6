"""The media workers as the facade sees them: where a new stream goes, and where
the calls about an existing object go.

The media service runs as several workers ("media", "media-1", ...; see
`sipsimple.bus.endpoints`), each a whole engine with its own mixers. Audio
never crosses from one worker to another, so everything that is heard
together lives on one worker:

- an object's calls go to the worker that made it (`worker_of`: the ids of
  streams and ports are unique across workers, and the facade remembers which
  worker answered each `create_stream` and `create_port`);
- a stream goes to the worker its session's other streams are on (a call on
  one worker), else to the first worker when it is to be heard on the sound
  card (a device other than null is in use: the device and the
  SIPApplication mixers live on the first worker) or was given another mixer
  or something else in its bridge, else to the least-loaded worker that
  answers its heartbeats.

Load is counted in streams: this client's own (exact, counted here) plus the
other clients' (from each worker's last heartbeat reply, at most a second old).

Each object is remembered with the worker instance that made it (its create's
reply names it): the facade hears of a restart from the heartbeat, up to a
second after it, and objects made by the new instance in between are not the
old one's losses. The ids of objects being created are known too (the facade
chooses them): a worker's objects that are in neither list are no facade
object's (`sipsimple.media_calls.reconcile`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import Counter
from typing import Any

from sipsimple.bus import endpoints
from sipsimple.bus.client import BusClient
from sipsimple.bus.schema import HEARTBEAT_INTERVAL

__all__ = [
    "FIRST",
    "created",
    "creating",
    "forget",
    "forget_worker",
    "is_media_worker",
    "known_on",
    "least_loaded",
    "placed",
    "remember",
    "session_worker",
    "set_devices_in_use",
    "sound_card_in_use",
    "worker_of",
    "workers",
]

FIRST = endpoints.MEDIA  # the first worker: the sound devices, the application's mixers
# A worker silent this long gets no new stream (the bus declares it gone only after 3 s).
STALE_AFTER = 2 * HEARTBEAT_INTERVAL

_lock = threading.Lock()
# object id -> (worker, the worker's instance that made it, is a stream)
_objects: dict[str, tuple[str, str | None, bool]] = {}
_creating: dict[str, str] = {}  # object id -> worker: asked for, not answered yet
_streams: Counter[str] = Counter()  # this client's live streams per worker
_sessions: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_suspect: dict[str, float] = {}  # worker -> when a call to it went unanswered
_devices: dict[str, str] = {}  # the first worker's devices in use (input, output, alert)
_ID_PARAMS = ("stream_id", "port_id", "source", "sink")


def is_media_worker(service: str) -> bool:
    return endpoints.media_worker_index(service) is not None


def workers(bus: BusClient) -> tuple[str, ...]:
    """The media workers `bus` talks to, the first one first."""
    return tuple(s for s in bus.services if is_media_worker(s))


# --- where an object's calls go ------------------------------------------------------


def worker_of(params: dict[str, Any]) -> str:
    """The worker holding the objects a call names; the first for none we know of
    (device ports, calls naming no object, an id we never saw: that worker says
    whether it exists)."""
    with _lock:
        for name in _ID_PARAMS:
            value = params.get(name)
            if isinstance(value, str) and value in _objects:
                return _objects[value][0]
    return FIRST


def creating(object_id: str, worker: str) -> None:
    """`object_id` is being created on `worker` (the request is on its way)."""
    with _lock:
        _creating[object_id] = worker


def created(object_id: str) -> None:
    """The create of `object_id` is over (remembered if it was made, else not)."""
    with _lock:
        _creating.pop(object_id, None)


def remember(object_id: str, worker: str, stream: bool, instance: str | None = None) -> None:
    with _lock:
        previous = _objects.get(object_id)
        if previous is not None and previous[2]:
            _streams[previous[0]] -= 1
        _objects[object_id] = (worker, instance, stream)
        if stream:
            _streams[worker] += 1
        _suspect.pop(worker, None)  # it answered


def forget(object_id: str | None) -> None:
    if object_id is None:
        return
    with _lock:
        entry = _objects.pop(object_id, None)
        if entry is not None and entry[2]:
            _streams[entry[0]] -= 1


def forget_worker(worker: str, instance: str | None = None) -> list[str]:
    """`worker` restarted and is now `instance`: the ids of the objects the instances
    before it made (all gone), forgotten. The objects `instance` made already
    (between the restart and the heartbeat that told of it) are kept."""
    with _lock:
        gone = [object_id for object_id, (where, made_by, _) in _objects.items()
                if where == worker and (instance is None or made_by != instance)]
        for object_id in gone:
            entry = _objects.pop(object_id)
            if entry[2]:
                _streams[worker] -= 1
    return gone


def objects_on(worker: str) -> list[str]:
    with _lock:
        return [object_id for object_id, (where, _, _) in _objects.items() if where == worker]


def known_on(worker: str) -> set[str]:
    """The ids of `worker`'s objects that a facade object holds or is creating."""
    with _lock:
        return {object_id for object_id, (where, _, _) in _objects.items() if where == worker} \
            | {object_id for object_id, where in _creating.items() if where == worker}


def unanswered(worker: str) -> None:
    """A call to `worker` got no answer: no new stream goes there until it answers."""
    with _lock:
        _suspect[worker] = time.monotonic()


# --- where a new stream goes -----------------------------------------------------------


def set_devices_in_use(devices: dict[str, Any]) -> None:
    """The first worker's devices in use (its `set_devices` reply or `devices_changed`)."""
    with _lock:
        _devices.clear()
        _devices.update({k: str(v) for k, v in devices.items() if k in ("input", "output",
                                                                       "alert")})


def sound_card_in_use() -> bool:
    """Whether the voice mixer's device is a sound card (input or output not null)."""
    with _lock:
        return any(_devices.get(kind, "null") != "null" for kind in ("input", "output"))


def session_worker(session: Any) -> str | None:
    if session is None:
        return None
    with _lock:
        try:
            return _sessions.get(session)
        except TypeError:  # not weakly referenceable: no affinity to keep
            return None


def placed(session: Any, worker: str) -> None:
    """`session` has a stream on `worker`: its other streams go there too."""
    if session is None:
        return
    with _lock, contextlib.suppress(TypeError):  # not weakly referenceable: no affinity
        _sessions.setdefault(session, worker)


def load(bus: BusClient, worker: str) -> int:
    """Streams on `worker`: ours, and the other clients' as of its last heartbeat."""
    state = bus.state.get(worker)
    reported = state.load if state is not None and state.load else {}
    others = max(0, int(reported.get("streams", 0)) - int(reported.get("yours", 0)))
    with _lock:
        return _streams[worker] + others


def usable(bus: BusClient, worker: str, now: float | None = None) -> bool:
    """No call to the worker went unanswered since it last answered, and it answered
    lately (a heartbeat or a call), or has not been asked yet: a client just
    started trusts the workers to run as started (one that does not answer its
    first stream is then left for another)."""
    state = bus.state.get(worker)
    if state is None:
        return False
    with _lock:
        suspect = _suspect.get(worker)
    if suspect is not None and state.last_seen <= suspect:
        return False
    if not state.last_seen:
        return True
    now = time.monotonic() if now is None else now
    return now - state.last_seen <= STALE_AFTER


def least_loaded(bus: BusClient, exclude: tuple[str, ...] = ()) -> str:
    """The usable worker with the fewest streams (the first of equals); the first
    worker when none is usable (its call then fails with the reason)."""
    now = time.monotonic()
    candidates = [w for w in workers(bus) if w not in exclude and usable(bus, w, now)]
    if not candidates:
        return FIRST
    return min(candidates, key=lambda w: (load(bus, w), workers(bus).index(w)))


def reset() -> None:
    """Forget everything (a new bus client: the workers it talks to start afresh)."""
    with _lock:
        _objects.clear()
        _creating.clear()
        _streams.clear()
        _sessions.clear()
        _suspect.clear()
        _devices.clear()
