"""Calls to the media service's workers, for every facade object that has one there.

`media_call` sends one call to the worker holding the object it names (or the
one given); a create that gets no answer is ended by the id chosen for it here,
so that a worker that carries it out late holds nothing no facade object knows
of. `media_calls` pipelines several calls to one worker; `reconcile` ends what a
worker holds that no facade object knows of. Every failure is an `AudioError`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sipsimple import media_workers
from sipsimple.bus.client import BusError, ServiceError, ServiceUnavailable, get_bus

__all__ = [
    "CANCEL_TIMEOUT",
    "MEDIA_TIMEOUT",
    "AudioError",
    "media_call",
    "media_calls",
    "not_found",
    "reconcile",
]

log = logging.getLogger(__name__)

MEDIA_TIMEOUT = 5.0  # seconds for one media service call


class AudioError(RuntimeError):
    """A media service call failed (the service is down, or refused the request)."""


def media_call(method: str, worker: str | None = None, **params: Any) -> Any:
    """One call to a media worker: `worker`, else the one holding the object the
    call names (the first for none). Every failure is an AudioError.

    A create names its object (`_new_id`): one that gets no answer in time is
    ended by that id (`_cancel`), so that a worker that carries it out late
    (busy, or restarted meanwhile) holds nothing that no facade object knows of.
    """
    target = worker or media_workers.worker_of(params)
    made = _new_id(method, params)
    if made is not None:
        media_workers.creating(made, target)
    try:
        try:
            result = get_bus().call(target, method, timeout=MEDIA_TIMEOUT, **params)
        except BusError as exc:
            if isinstance(exc, ServiceUnavailable):
                media_workers.unanswered(target)
                if made is not None:
                    _cancel(target, method, made)
            if method in ("end_stream", "destroy_port"):  # gone for the facade either way
                _track(target, method, params, None)
            raise AudioError(f"media service: {method} failed: {exc}") from exc
        _track(target, method, params, result)
    finally:
        if made is not None:
            media_workers.created(made)
    return result


CANCEL_TIMEOUT = 30.0  # for the end of a create that got no answer to reach its worker
_CANCELS = {"create_stream": ("end_stream", "stream_id"),
            "create_port": ("destroy_port", "port_id")}


def _new_id(method: str, params: dict[str, Any]) -> str | None:
    """The id of the object a create makes, chosen here (set in `params`)."""
    if method not in _CANCELS:
        return None
    name = _CANCELS[method][1]
    if not isinstance(params.get(name), str):
        params[name] = uuid.uuid4().hex if method == "create_stream" else \
            f"{params.get('kind')}-{uuid.uuid4().hex[:16]}"
    value: str = params[name]
    return value


def _cancel(worker: str, method: str, object_id: str) -> None:
    """End `object_id`, whose create got no answer: made, it is ended; not made yet,
    the worker refuses its create when it comes (services/media/object_ids.py)."""
    end, name = _CANCELS[method]
    log.info("media: %s of %s on %s got no answer: ending it", method, object_id, worker)
    try:
        get_bus().call_async(worker, end, {name: object_id}, timeout=CANCEL_TIMEOUT)
    except BusError as exc:  # the bus client stopped: the worker releases what was ours
        log.info("media: cannot end %s on %s: %s", object_id, worker, exc)


def _track(worker: str, method: str, params: dict[str, Any], result: Any) -> None:
    """Remember which worker (and its instance) holds the objects made, forget the
    ones ended."""
    if method in ("create_stream", "create_port") and isinstance(result, dict):
        object_id = result.get("stream_id") or result.get("port_id")
        instance = result.get("instance")
        if isinstance(object_id, str):
            media_workers.remember(object_id, worker, stream=method == "create_stream",
                                   instance=instance if isinstance(instance, str) else None)
    elif method in ("end_stream", "destroy_port"):
        media_workers.forget(params.get("stream_id") or params.get("port_id"))


def reconcile(worker: str) -> list[str]:
    """End the objects `worker` holds for this client that no facade object holds or
    is creating (a safety net after a restart: there should be none). Returns
    their ids."""
    try:
        owned = media_call("owned", worker=worker)
    except AudioError as exc:
        log.info("media: cannot list what %s holds: %s", worker, exc)
        return []
    known = media_workers.known_on(worker)  # read after the answer: see media_workers
    orphans = [(end, name, object_id)
               for kind, end, name in (("streams", "end_stream", "stream_id"),
                                       ("ports", "destroy_port", "port_id"))
               for object_id in owned.get(kind, ()) if object_id not in known]
    for end, name, object_id in orphans:
        log.warning("media: %s holds %s that no object of this client knows of: ending it",
                    worker, object_id)
        try:
            media_call(end, worker=worker, **{name: object_id})
        except AudioError as exc:
            if not not_found(exc):
                log.warning("media: %s", exc)
    return [object_id for _, _, object_id in orphans]


def media_calls(calls: Sequence[tuple[str, dict[str, Any]]],
                worker: str | None = None) -> list[Any]:
    """Calls to one media worker pipelined (one round trip, one wait behind the
    clock's ticks): each call's result, or the AudioError it got, in order."""
    if not calls:
        return []
    target = worker or media_workers.worker_of(calls[0][1])
    try:
        outcomes = get_bus().call_many(target, calls, timeout=MEDIA_TIMEOUT)
    except BusError as exc:
        if isinstance(exc, ServiceUnavailable):
            media_workers.unanswered(target)
        raise AudioError(f"media service: {calls[0][0]} failed: {exc}") from exc
    results: list[Any] = []
    for (method, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, ServiceError):
            error = AudioError(f"media service: {method} failed: {outcome}")
            error.__cause__ = outcome
            outcome = error
        results.append(outcome)
    return results


def not_found(exc: AudioError) -> bool:
    """Whether the service said the object the call named does not exist."""
    cause = exc.__cause__
    return isinstance(cause, ServiceError) and cause.code == "not-found"
