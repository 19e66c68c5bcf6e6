"""Who may use the bus, and which client a connection speaks for.

Every `BusClient` makes a CURVE keypair when it is created; its client id is
derived from the public key (`client_id_of`), so the id cannot be claimed
without the secret key. Each command connection proves its id through ZAP,
and the service takes the client of a request from the connection's ZAP user
id, never from the request's body alone:

- ``ipc://`` (the default): the sockets live in the 0700 runtime directory,
  so only this user reaches them. Command connections use ZeroMQ's PLAIN
  mechanism, username the client id and password the secret key: the service
  derives the public key and checks that it gives that id. Events (PUB) have
  no mechanism: the directory is their protection.
- ``tcp://`` (``SIPSIMPLE_BUS_TCP_BASE``, loopback only): every connection,
  commands and events, uses CURVE (encrypted and authenticated). The
  service's keypair lives in ``bus-keys/`` of the runtime directory, made by
  whichever side needs it first; a client registers its public key there as
  ``<client id>.key`` while it runs, and the service accepts only registered
  keys. Another user can neither read the service's key nor register one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from sipsimple.bus import endpoints

__all__ = [
    "ZAP_DOMAIN",
    "Credentials",
    "authenticate",
    "client_id_of",
    "keys_dir",
    "secure_server",
    "server_keypair",
]

ZAP_DOMAIN = "sipsimple"
ZAP_ENDPOINT = "inproc://zeromq.zap.01"  # fixed by the ZAP specification (RFC 27)
_SERVER_KEYS = "server.keys"  # public and secret key, one a line


def client_id_of(public_key: bytes) -> str:
    """The client id owned by the holder of `public_key` (z85, 40 bytes)."""
    return hashlib.sha256(b"sipsimple-bus-client:" + public_key).hexdigest()[:32]


def keys_dir() -> Path:
    path = endpoints.runtime_dir() / "bus-keys"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    return path


def _write_new(path: Path, data: bytes) -> bool:
    """Write a 0600 file that must not exist yet; False if it already does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return True


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as source:
        return source.read()


def server_keypair() -> tuple[bytes, bytes]:
    """The services' CURVE keypair (z85 public, z85 secret), made on first use."""
    path = keys_dir() / _SERVER_KEYS
    if not path.exists():
        public, secret = zmq.curve_keypair()
        staging = path.with_name(f".{_SERVER_KEYS}-{os.getpid()}-{os.urandom(4).hex()}")
        _write_new(staging, public + b"\n" + secret + b"\n")
        try:
            with contextlib.suppress(FileExistsError):
                os.link(staging, path)  # never replaces: the first maker wins, atomically
        finally:
            staging.unlink()
    public, _, secret = _read(path).partition(b"\n")
    return public.strip(), secret.strip()


@dataclass(frozen=True)
class Credentials:
    """A client's keypair (z85) and the id it proves."""

    public_key: bytes
    secret_key: bytes

    @classmethod
    def generate(cls) -> Credentials:
        if not zmq.has("curve"):  # pyzmq's wheels have it; a source build may not
            raise RuntimeError("the bus needs libzmq with CURVE support (zmq.has('curve'))")
        public, secret = zmq.curve_keypair()
        return cls(public, secret)

    @property
    def client_id(self) -> str:
        return client_id_of(self.public_key)

    def apply(self, socket: zmq.Socket, endpoint: str, commands: bool = True) -> None:
        """Set `socket` up to connect to `endpoint` (a command or an event socket)."""
        if endpoint.startswith("tcp://"):
            socket.curve_serverkey = server_keypair()[0]
            socket.curve_publickey = self.public_key
            socket.curve_secretkey = self.secret_key
        elif commands:
            socket.plain_username = self.client_id.encode()
            socket.plain_password = self.secret_key

    def register(self) -> None:
        """Allow this client's key on TCP endpoints (kept in the runtime directory)."""
        path = keys_dir() / f"{self.client_id}.key"
        if not _write_new(path, self.public_key) and _read(path) != self.public_key:
            raise endpoints.UnsafeDirectoryError(f"{path} holds another key")

    def unregister(self) -> None:
        with contextlib.suppress(OSError):
            (keys_dir() / f"{self.client_id}.key").unlink()


def secure_server(socket: zmq.Socket, endpoint: str, commands: bool = True) -> None:
    """Set a service socket up to authenticate its peers through ZAP."""
    if endpoint.startswith("tcp://"):
        socket.curve_server = True
        socket.curve_secretkey = server_keypair()[1]
        socket.zap_domain = ZAP_DOMAIN.encode()
    elif commands:
        socket.plain_server = True
        socket.zap_domain = ZAP_DOMAIN.encode()


def authenticate(
    domain: bytes, mechanism: bytes, credentials: list[bytes], keys: Path
) -> tuple[str | None, str]:
    """A ZAP decision: (the client id the peer proved, or None; why)."""
    if domain != ZAP_DOMAIN.encode():
        return None, "unknown domain"
    if mechanism == b"PLAIN" and len(credentials) == 2:
        username, password = credentials
        try:
            public = zmq.curve_public(password)
        except (ValueError, zmq.ZMQError):
            return None, "malformed key"
        client = client_id_of(public)
        if username != client.encode():
            return None, "the key does not prove this client id"
        return client, "OK"
    if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
        public = z85.encode(credentials[0])
        client = client_id_of(public)
        try:
            registered = _read(keys / f"{client}.key")
        except OSError:
            return None, "unknown key"
        if registered != public:
            return None, "unknown key"
        return client, "OK"
    return None, "mechanism not allowed"
