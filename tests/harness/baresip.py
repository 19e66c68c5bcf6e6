"""baresip as a peer: its own process, a tone as its microphone, its call audio to WAV files.

Shared by tests/test_streams_rtp_audio_peers.py and test_conference_room.py.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

from harness import peers
from harness.sipp import free_ports

__all__ = ["BARESIP", "Baresip", "needs_baresip"]

BARESIP = shutil.which("baresip")
needs_baresip = peers.needs("baresip (Debian package baresip)", BARESIP is not None)


class Baresip:
    """baresip in its own process: a tone as its microphone, its call audio to WAV files.

    Driven over its ctrl_tcp socket (JSON in netstrings); it answers calls
    itself (answermode=auto).
    """

    def __init__(self, workdir: Path, codec: str, mediaenc: str | None, tone: float,
                 account_params: str = "", modules: tuple[str, ...] = ()) -> None:
        """`account_params` go on the account line (";medianat=ice"), `modules` are loaded
        besides the codecs and controls."""
        self.workdir = workdir
        self.dumps = workdir / "dumps"
        self.dumps.mkdir()
        for attempt in range(3):
            if self._start(codec, mediaenc, tone, account_params, modules):
                break
            # a port taken between the probe and baresip's bind: again, on others
            assert attempt < 2, self.log()
        self._buffer = b""
        self._received: list[dict[str, Any]] = []

    def _start(self, codec: str, mediaenc: str | None, tone: float, account_params: str,
               modules: tuple[str, ...]) -> bool:
        """Started and its control socket connected; False if a port was taken."""
        workdir = self.workdir
        # below the ephemeral range (no socket bound to port 0 takes them meanwhile);
        # baresip binds the SIP port on UDP and TCP even for UDP only
        self.sip_port = free_ports(2, kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        self.ctrl_port = free_ports(1, kinds=(socket.SOCK_STREAM,))
        # baresip names a codec with its rate and channels (G722 alone would be 8000 Hz)
        full = {"PCMU": "PCMU/8000/1", "PCMA": "PCMA/8000/1", "G722": "G722/16000/1",
                "opus": "opus/48000/2"}[codec]
        params = f";regint=0;answermode=auto;audio_codecs={full}"
        if mediaenc:
            params += f";mediaenc={mediaenc}"
        params += account_params
        (workdir / "accounts").write_text(f"<sip:baresip@127.0.0.1:{self.sip_port}>{params}\n")
        modules = ("g711", "g722", "opus", "ausine", "sndfile", "ctrl_tcp", "srtp", "aufile",
                   *modules)
        config = [
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "sip_transports udp",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"audio_source ausine,{int(tone)}",
            "ausrc_srate 48000",  # what ausine can do; baresip resamples for the codec
            "ausrc_channels 2",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            f"snd_path {self.dumps}",
            "rtp_ports 41000-41999",
            "net_interface 127.0.0.1",
            "module_path /usr/lib/baresip/modules",
            *(f"module {m}.so" for m in modules),
            "module_app account.so",
            "module_app menu.so",
        ]
        (workdir / "config").write_text("\n".join(config) + "\n")
        self.output = (workdir / "baresip.log").open("w")
        self.process = subprocess.Popen([BARESIP or "baresip", "-f", str(workdir)],
                                        stdin=subprocess.DEVNULL, stdout=self.output,
                                        stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.ctrl = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
                break
            except OSError:
                if self.process.poll() is not None:
                    self.output.close()
                    assert "Address already in use" in self.log(), self.log()
                    return False
                assert time.monotonic() < deadline, self.log()
                time.sleep(0.1)
        self.ctrl.settimeout(5)
        return True

    def log(self) -> str:
        if not self.output.closed:
            self.output.flush()
        return (self.workdir / "baresip.log").read_text(errors="replace")[-4000:]

    def messages(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        """What ctrl_tcp sent so far: responses and UA events (JSON in netstrings)."""
        self.ctrl.settimeout(timeout)
        try:
            while True:
                chunk = self.ctrl.recv(65536)
                if not chunk:
                    break
                self._buffer += chunk
        except TimeoutError:
            pass
        while b":" in self._buffer:
            length, _, rest = self._buffer.partition(b":")
            size = int(length)
            if len(rest) < size + 1:
                break
            self._received.append(json.loads(rest[:size]))
            self._buffer = rest[size + 1:]
        return list(self._received)

    def wait_event(self, kind: str, param: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not any(m.get("type") == kind and m.get("param") == param
                      for m in self.messages()):
            assert time.monotonic() < deadline, (kind, param, self._received, self.log())

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.ctrl.sendall(str(len(body)).encode() + b":" + body + b",")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.ctrl.close()
        self.output.close()

    def decoded(self, timeout: float = 10) -> Path:
        """The WAV of what baresip decoded from us (sndfile's -dec file), once complete.

        sndfile writes the header when the call ends, a moment after our BYE.
        """
        deadline = time.monotonic() + timeout
        while True:
            for path in sorted(self.dumps.glob("*dec*.wav")):
                try:
                    with wave.open(str(path), "rb") as source:
                        if source.getnframes() > 0:
                            return path
                except (wave.Error, EOFError):
                    pass
            assert time.monotonic() < deadline, f"no recording in {self.dumps}: {self.log()}"
            time.sleep(0.1)
