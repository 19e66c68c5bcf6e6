"""A pjsua2 endpoint driven by line-based JSON on stdin/stdout (run by harness/pjsua.py).

Commands (one JSON object a line): ``{"id": N, "cmd": NAME, ...args}``; every
command gets ``{"id": N, "ok": true, "result": ...}`` or ``{"id": N, "ok":
false, "error": "..."}``. Events are ``{"event": NAME, ...}`` lines.

pjsua2 aborts when used from a second thread, so everything runs on the main
thread: the loop alternates ``libHandleEvents`` with a select() on stdin.
Objects that pjsua2 still references are never deleted inside its callbacks;
they are queued and dropped by the loop.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import sys
import traceback
from typing import Any

import pjsua2 as pj

# fd 1 belongs to the protocol: keep a private copy, and point fd 1 at stderr
# so that anything the C library prints cannot corrupt it.
_PROTO = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def emit(message: dict[str, Any]) -> None:
    _PROTO.write(json.dumps(message) + "\n")
    _PROTO.flush()


STATE_NAMES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}


class Worker:
    def __init__(self) -> None:
        self.ep: pj.Endpoint | None = None
        self.accounts: dict[str, Account] = {}
        self.calls: dict[str, Call] = {}
        self.players: dict[str, pj.AudioMediaPlayer] = {}
        self.garbage: list[object] = []
        self.recordings: list[list[Any]] = []
        self.unregistering: set[str] = set()  # [call handle, path, rounds waited]
        self.next_call = 0
        self.next_account = 0
        self.auto_answer: int | None = 200
        self.ring_first = True
        self.running = True
        self.transports: dict[str, int] = {}
        self.rtp_port = 0

    # -- helpers ---------------------------------------------------------

    def new_call_handle(self) -> str:
        self.next_call += 1
        return f"c{self.next_call}"

    def call(self, handle: str | None) -> Call:
        if handle is None:
            live = list(self.calls.values())
            if len(live) != 1:
                raise ValueError(f"call handle needed ({len(live)} calls)")
            return live[0]
        return self.calls[handle]

    def account(self, handle: str | None) -> Account:
        if handle is None:
            return list(self.accounts.values())[-1]
        return self.accounts[handle]

    # -- commands --------------------------------------------------------

    def cmd_info(self) -> dict[str, Any]:
        return {"transports": self.transports, "accounts": list(self.accounts),
                "calls": list(self.calls), "pid": os.getpid()}

    def cmd_add_account(
        self, id_uri: str, registrar: str | None = None, username: str | None = None,
        password: str | None = None, proxy: str | None = None, expires: int = 300,
        realm: str = "*",
    ) -> str:
        cfg = pj.AccountConfig()
        cfg.idUri = id_uri
        if registrar:
            cfg.regConfig.registrarUri = registrar
            cfg.regConfig.timeoutSec = expires
            cfg.regConfig.retryIntervalSec = 0  # no silent retry loop after a failure
        cfg.regConfig.registerOnAdd = bool(registrar)
        if proxy:
            cfg.sipConfig.proxies.append(proxy)
        if username is not None and password is not None:
            cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", realm, username, 0, password))
        # Loopback only, no NAT games: what we configure is what goes on the wire.
        cfg.natConfig.contactRewriteUse = 0
        cfg.natConfig.viaRewriteUse = 0
        cfg.natConfig.sdpNatRewriteUse = 0
        cfg.natConfig.sipOutboundUse = 0
        cfg.mediaConfig.transportConfig.port = self.rtp_port
        cfg.mediaConfig.transportConfig.portRange = 100
        cfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        cfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
        self.next_account += 1
        handle = f"a{self.next_account}"
        acc = Account(self, handle)
        acc.create(cfg)
        self.accounts[handle] = acc
        return handle

    def cmd_register(self, account: str | None = None, renew: bool = True) -> None:
        self.account(account).setRegistration(renew)

    def cmd_remove_account(self, account: str) -> None:
        acc = self.accounts.pop(account)
        acc.shutdown()
        self.garbage.append(acc)

    def cmd_set_auto_answer(self, code: int | None, ring_first: bool = True) -> None:
        self.auto_answer = code
        self.ring_first = ring_first

    def cmd_make_call(
        self, uri: str, account: str | None = None, headers: dict[str, str] | None = None
    ) -> str:
        acc = self.account(account)
        handle = self.new_call_handle()
        call = Call(self, handle, acc)
        prm = pj.CallOpParam(True)
        for name, value in (headers or {}).items():
            hdr = pj.SipHeader()
            hdr.hName = name
            hdr.hValue = value
            prm.txOption.headers.append(hdr)
        self.calls[handle] = call
        try:
            call.makeCall(uri, prm)
        except pj.Error:
            del self.calls[handle]
            raise
        return handle

    def cmd_answer(self, call: str | None = None, code: int = 200, reason: str = "") -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        if reason:
            prm.reason = reason
        self.call(call).answer(prm)

    def cmd_hangup(self, call: str | None = None, code: int = 0, reason: str = "") -> list[str]:
        targets = [call] if call is not None else list(self.calls)
        for handle in targets:
            prm = pj.CallOpParam()
            prm.statusCode = code
            if reason:
                prm.reason = reason
            with contextlib.suppress(pj.Error):  # already ending
                self.calls[handle].hangup(prm)
        return targets

    def cmd_play(self, path: str, call: str | None = None, loop: bool = True) -> None:
        c = self.call(call)
        c.pending_play = (path, loop)
        if c.media_active:
            c.start_play()

    def cmd_stop_play(self, call: str | None = None) -> None:
        self.call(call).stop_play()

    def cmd_record(self, path: str, call: str | None = None) -> None:
        c = self.call(call)
        c.pending_record = path
        if c.media_active:
            c.start_record()

    def cmd_stop_record(self, call: str | None = None) -> str | None:
        return self.call(call).stop_record()

    def cmd_dtmf(self, digits: str, call: str | None = None) -> None:
        self.call(call).dialDtmf(digits)

    def cmd_call_info(self, call: str | None = None) -> dict[str, Any]:
        return self.call(call).describe()

    def cmd_quit(self) -> None:
        self.running = False

    # -- main loop -------------------------------------------------------

    def dispatch(self, line: str) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            emit({"event": "protocol_error", "line": line[:200]})
            return
        ident = request.pop("id", None)
        name = request.pop("cmd", "")
        method = getattr(self, f"cmd_{name}", None)
        if method is None:
            emit({"id": ident, "ok": False, "error": f"unknown command {name!r}"})
            return
        try:
            result = method(**request)
        except pj.Error as exc:
            emit({"id": ident, "ok": False, "error": f"{exc.title}: {exc.reason} ({exc.status})"})
        except Exception as exc:  # the peer reports, the test decides
            emit({"id": ident, "ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-2000:]})
        else:
            emit({"id": ident, "ok": True, "result": result})

    def run(self, args: argparse.Namespace) -> None:
        ep = self.ep = pj.Endpoint()
        ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "pjsua2-test-peer"
        cfg.logConfig.level = args.log_level
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.filename = args.log
        cfg.medConfig.noVad = True  # VAD would turn a quiet tone into silence
        cfg.medConfig.clockRate = 16000
        ep.libInit(cfg)
        for kind, flag, port in (("udp", pj.PJSIP_TRANSPORT_UDP, args.udp_port),
                                 ("tcp", pj.PJSIP_TRANSPORT_TCP, args.tcp_port)):
            tcfg = pj.TransportConfig()
            tcfg.port = port
            tcfg.boundAddress = "127.0.0.1"
            tcfg.publicAddress = "127.0.0.1"
            ep.transportCreate(flag, tcfg)
            self.transports[kind] = port
        self.rtp_port = args.rtp_port
        ep.libStart()
        ep.audDevManager().setNullDev()
        wanted = [c.strip() for c in args.codecs.split(",") if c.strip()]
        for codec in ep.codecEnum2():
            name = codec.codecId  # e.g. "PCMU/8000/1"
            prio = 0
            for rank, want in enumerate(wanted):
                if name.lower().startswith(want.lower()):
                    prio = 250 - rank
                    break
            ep.codecSetPriority(name, prio)
        # A local (unregistered) account so direct calls to this peer work at once.
        self.cmd_add_account(f"sip:{args.user}@127.0.0.1:{args.udp_port}")
        emit({"event": "ready", "transports": self.transports, "pid": os.getpid()})

        buffer = b""
        stdin = sys.stdin.fileno()
        while self.running:
            ep.libHandleEvents(10)
            self.collect_garbage()
            readable, _, _ = select.select([stdin], [], [], 0)
            if readable:
                chunk = os.read(stdin, 65536)
                if not chunk:  # parent went away
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self.dispatch(line.decode())
        self.shutdown()

    def collect_garbage(self) -> None:
        # Runs outside every callback: only here may pjsua2 objects die.
        while self.garbage:
            self.garbage.pop()
        # pjsua2 destroys a recorder (and writes the WAV sizes) only on a later
        # libHandleEvents after the Python object died: report "done" once the
        # RIFF size matches the file, within a bounded number of rounds.
        for item in list(self.recordings):
            handle, path, rounds = item
            if wav_complete(path) or rounds > 200:
                self.recordings.remove(item)
                emit({"event": "recording_done", "call": handle, "path": path,
                      "complete": wav_complete(path)})
            else:
                item[2] = rounds + 1

    def finish_recording(self, handle: str, path: str | None, recorder: object) -> None:
        self.garbage.append(recorder)
        self.recordings.append([handle, path or "", 0])

    def shutdown(self) -> None:
        ep = self.ep
        assert ep is not None
        self.cmd_hangup()
        for _ in range(100):  # up to ~1 s for BYEs to be answered
            if not self.calls:
                break
            ep.libHandleEvents(10)
        for call in list(self.calls.values()):
            call.release_media()
        self.calls.clear()
        # Unregister ourselves (a shared registrar must not keep dead contacts),
        # then destroy without network: libDestroy's own unregistration and
        # its waits cost ~1 s per peer.
        for handle, acc in self.accounts.items():
            with contextlib.suppress(pj.Error):
                if acc.getInfo().regIsActive:
                    self.unregistering.add(handle)
                    acc.setRegistration(False)
        for _ in range(100):
            if not self.unregistering:
                break
            ep.libHandleEvents(10)
        for acc in self.accounts.values():
            with contextlib.suppress(pj.Error):
                acc.shutdown()
        self.accounts.clear()
        self.garbage.clear()
        for _ in range(20):  # let deferred destroys (recorders) run and get reported
            ep.libHandleEvents(10)
            self.collect_garbage()
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        emit({"event": "stopped"})


def wav_complete(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(8)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    return header[:4] == b"RIFF" and int.from_bytes(header[4:8], "little") + 8 == size and size > 44


class Account(pj.Account):
    def __init__(self, worker: Worker, handle: str) -> None:
        super().__init__()
        self.worker = worker
        self.handle = handle

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        emit({"event": "reg_state", "account": self.handle, "code": int(prm.code),
              "reason": prm.reason, "expires": int(prm.expiration),
              "active": bool(info.regIsActive)})
        if not info.regIsActive:
            self.worker.unregistering.discard(self.handle)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        worker = self.worker
        handle = worker.new_call_handle()
        call = Call(worker, handle, self, prm.callId)
        worker.calls[handle] = call
        info = call.getInfo()
        emit({"event": "incoming_call", "call": handle, "account": self.handle,
              "remote_uri": info.remoteUri, "local_uri": info.localUri,
              "call_id": info.callIdString, "message": prm.rdata.wholeMsg[:4000]})
        code = worker.auto_answer
        op = pj.CallOpParam()
        if code is None or (code == 200 and worker.ring_first):
            op.statusCode = 180
            call.answer(op)
        if code is not None:
            op = pj.CallOpParam()
            op.statusCode = code
            call.answer(op)


class Call(pj.Call):
    def __init__(
        self, worker: Worker, handle: str, account: Account, call_id: int = pj.PJSUA_INVALID_ID
    ) -> None:
        super().__init__(account, call_id)
        self.worker = worker
        self.handle = handle
        self.media_active = False
        self.pending_play: tuple[str, bool] | None = None
        self.pending_record: str | None = None
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.record_path: str | None = None

    def describe(self) -> dict[str, Any]:
        info = self.getInfo()
        return {"call": self.handle, "state": STATE_NAMES.get(info.state, str(info.state)),
                "code": int(info.lastStatusCode), "reason": info.lastReason,
                "remote_uri": info.remoteUri, "local_uri": info.localUri,
                "call_id": info.callIdString}

    def audio(self) -> pj.AudioMedia:
        return self.getAudioMedia(-1)

    def start_play(self) -> None:
        if self.pending_play is None:
            return
        path, loop = self.pending_play
        self.pending_play = None
        self.stop_play()
        player = pj.AudioMediaPlayer()
        player.createPlayer(path, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self.audio())
        self.player = player
        emit({"event": "playing", "call": self.handle, "path": path})

    def stop_play(self) -> None:
        if self.player is not None:
            with contextlib.suppress(pj.Error):
                self.player.stopTransmit(self.audio())
            self.worker.garbage.append(self.player)
            self.player = None

    def start_record(self) -> None:
        if self.pending_record is None:
            return
        path = self.pending_record
        self.pending_record = None
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        self.audio().startTransmit(recorder)
        self.recorder = recorder
        self.record_path = path
        emit({"event": "recording", "call": self.handle, "path": path})

    def stop_record(self) -> str | None:
        path, recorder = self.record_path, self.recorder
        self.recorder = self.record_path = None
        if recorder is not None:
            with contextlib.suppress(pj.Error):  # the call's media may be gone already
                self.audio().stopTransmit(recorder)
            self.worker.finish_recording(self.handle, path, recorder)
        return path

    def release_media(self) -> None:
        self.stop_play()
        self.stop_record()

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        data = self.describe()
        emit({"event": "call_state", **data})
        if data["state"] == "DISCONNECTED":
            self.release_media()
            self.media_active = False
            # Call ids are reused: forget this one, delete it outside the callback.
            self.worker.calls.pop(self.handle, None)
            self.worker.garbage.append(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        info = self.getInfo()
        active = any(
            m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
            for m in info.media
        )
        self.media_active = active
        emit({"event": "media_state", "call": self.handle, "active": active})
        if active:
            self.start_play()
            self.start_record()

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        emit({"event": "dtmf", "call": self.handle, "digit": prm.digit})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--udp-port", type=int, required=True)
    parser.add_argument("--tcp-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--user", default="peer")
    parser.add_argument("--codecs", default="PCMU/8000,PCMA/8000,G722/16000")
    parser.add_argument("--log", required=True)
    parser.add_argument("--log-level", type=int, default=4)
    worker = Worker()
    try:
        worker.run(parser.parse_args())
    except pj.Error as exc:
        emit({"event": "fatal", "error": f"{exc.title}: {exc.reason} ({exc.status})"})
        sys.exit(1)


if __name__ == "__main__":
    main()
