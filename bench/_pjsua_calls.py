"""The pjsua2 side of bench/session_setup.py: two accounts of one endpoint calling each other.

    python bench/_pjsua_calls.py        (started by session_setup.py, not by hand)

One pjsua2 Endpoint (the library allows one per process) with a null audio
device and two UDP transports on 127.0.0.1, each with its own account
(``alice`` and ``bob``), so every call crosses loopback from one transport to
the other and through pjsip's parser twice, like ours does through the
signalling service. Bob answers 200 at once in ``onIncomingCall``; a sample is
the time from ``makeCall`` to alice's ``onCallState`` CONFIRMED (the ACK is
sent). Alice then hangs up and both calls are DISCONNECTED before the next.

pjsua2 aborts when used from a second thread, so everything runs on the main
thread, which alternates ``libHandleEvents`` with reading stdin. Protocol, one
line each way: ``N P`` runs N calls, each followed by a pause of P ms, and
answers a JSON list of N durations in seconds (or ``{"error": ...}``);
``quit`` or the end of input stops. The first output line is
``{"ready": true}``.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import Any

import pjsua2 as pj

# fd 1 carries the protocol; anything the C library prints goes to stderr instead
_PROTO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

CALL_TIMEOUT = 10.0  # seconds for one call to be confirmed, and again to end


def emit(message: Any) -> None:
    _PROTO.write(json.dumps(message) + "\n")
    _PROTO.flush()


class Call(pj.Call):
    def __init__(self, bench: Bench, account: pj.Account,
                 call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.bench = bench
        self.confirmed_at: float | None = None
        self.disconnected = False

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        state = self.getInfo().state
        if state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.perf_counter()
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True


class Answering(pj.Account):
    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = Call(self.bench, self, prm.callId)
        self.bench.incoming.append(call)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)


class Bench:
    def __init__(self) -> None:
        self.ep = pj.Endpoint()
        self.incoming: list[Call] = []
        self.caller: pj.Account | None = None
        self.callee: Answering | None = None
        self.callee_uri = ""
        self.pause = 0.0

    def start(self) -> None:
        ep = self.ep
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "pjsua2-bench"
        cfg.logConfig.level = 0
        cfg.logConfig.consoleLevel = 0
        ep.libInit(cfg)
        ports = []
        transports = []
        for _ in range(2):
            tcfg = pj.TransportConfig()
            tcfg.port = 0  # any free port
            tcfg.boundAddress = "127.0.0.1"
            tcfg.publicAddress = "127.0.0.1"
            tid = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            transports.append(tid)
            ports.append(int(ep.transportGetInfo(tid).localName.rsplit(":", 1)[1]))
        ep.libStart()
        ep.audDevManager().setNullDev()
        self.caller = pj.Account()
        self.caller.create(self._account_config("alice", ports[0], transports[0]))
        self.callee = Answering(self)
        self.callee.create(self._account_config("bob", ports[1], transports[1]))
        self.callee_uri = f"sip:bob@127.0.0.1:{ports[1]}"

    @staticmethod
    def _account_config(user: str, port: int, transport: int) -> pj.AccountConfig:
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{user}@127.0.0.1:{port}"
        cfg.regConfig.registerOnAdd = False
        cfg.sipConfig.transportId = transport
        # loopback only: what we configure is what goes on the wire
        cfg.natConfig.contactRewriteUse = 0
        cfg.natConfig.viaRewriteUse = 0
        cfg.natConfig.sdpNatRewriteUse = 0
        cfg.natConfig.sipOutboundUse = 0
        cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        cfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
        return cfg

    def _pump_until(self, done: Any, what: str) -> None:
        deadline = time.monotonic() + CALL_TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"pjsua2: no {what} within {CALL_TIMEOUT:g} s")
            self.ep.libHandleEvents(10)

    def one_call(self) -> float:
        assert self.caller is not None
        call = Call(self, self.caller)
        started = time.perf_counter()
        call.makeCall(self.callee_uri, pj.CallOpParam(True))
        self._pump_until(lambda: call.confirmed_at is not None or call.disconnected,
                         "CONFIRMED")
        if call.confirmed_at is None:
            raise RuntimeError("pjsua2: the call ended before it was confirmed")
        elapsed = call.confirmed_at - started
        call.hangup(pj.CallOpParam())
        answered = list(self.incoming)
        self._pump_until(lambda: call.disconnected and all(c.disconnected for c in answered),
                         "DISCONNECTED on both sides")
        # pjsua2 objects may die only outside its callbacks: here, as this returns
        self.incoming.clear()
        self._pause()
        return elapsed

    def _pause(self) -> None:
        until = time.monotonic() + self.pause
        while (left := until - time.monotonic()) > 0:
            self.ep.libHandleEvents(max(1, int(left * 1000)))

    def run(self) -> None:
        self.start()
        emit({"ready": True})
        stdin = sys.stdin.fileno()
        buffer = b""
        while True:
            self.ep.libHandleEvents(10)
            if not select.select([stdin], [], [], 0)[0]:
                continue
            chunk = os.read(stdin, 4096)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                text = line.decode().strip()
                if text == "quit":
                    return
                try:
                    calls, pause_ms = (int(word) for word in text.split())
                    self.pause = pause_ms / 1000
                    emit([self.one_call() for _ in range(calls)])
                except pj.Error as exc:
                    emit({"error": f"pjsua2: {exc.title}: {exc.reason} ({exc.status})"})
                except (RuntimeError, ValueError) as exc:
                    emit({"error": str(exc)})

    def stop(self) -> None:
        self.incoming.clear()
        for account in (self.caller, self.callee):
            if account is not None:
                account.shutdown()
        self.caller = self.callee = None
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)


def main() -> None:
    bench = Bench()
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
