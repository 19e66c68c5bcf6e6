"""Digest authentication: RFC vectors, a server-side verifier, stale and failure handling."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core.headers import (
    AuthorizationHeader,
    Header,
    ProxyAuthenticateHeader,
    ProxyAuthorizationHeader,
    WWWAuthenticateHeader,
)
from sipsimple_services.signalling.sip.auth import (
    ALGORITHMS,
    MAX_STALE,
    AuthFailed,
    AuthRetry,
    AuthSession,
    Credentials,
    RealmBook,
    digest_response,
    parse_challenges,
)
from sipsimple_services.signalling.sip.message.values import SIPResponse

# RFC 2617 section 3.5 and RFC 7616 section 3.9.1.
RFC2617 = dict(
    username="Mufasa", realm="testrealm@host.com", password="Circle Of Life",
    method="GET", uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
    nc=1, cnonce="0a4f113b", qop="auth",
)
RFC7616 = dict(
    username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
    method="GET", uri="/dir/index.html", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    nc=1, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop="auth",
)
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def counter(prefix: str = "cn") -> Iterator[str]:
    return (f"{prefix}{n}" for n in itertools.count(1))


def fixed_cnonces(*values: str) -> Callable[[], str]:
    source = iter(values)
    return lambda: next(source)


def challenge_response(*headers: Header, code: int = 401) -> SIPResponse:
    return SIPResponse(code, "Unauthorized", headers)


def www(**params: str | bool | None) -> WWWAuthenticateHeader:
    return WWWAuthenticateHeader.digest(**params)


# -- the server side, written here and only here --------------------------------------------


class Verifier:
    """A registrar's check of Authorization headers, independent of the client's state."""

    def __init__(self, passwords: dict[str, str], realm: str, opaque: str | None = None) -> None:
        self.passwords = passwords
        self.realm = realm
        self.opaque = opaque
        self.last_nc: dict[tuple[str, str], int] = {}
        self.session_cnonce: dict[str, str] = {}

    def check(
        self, header: Header, *, method: str, uri: str, nonce: str, algorithm: str | None,
        qop_offered: tuple[str, ...], body: bytes = b"",
    ) -> bool:
        # Read it back from the wire form, as a server would.
        kind = type(header)
        assert kind in (AuthorizationHeader, ProxyAuthorizationHeader)
        creds = kind.parse(str(header))
        assert creds.scheme == "Digest"
        if creds.realm != self.realm or creds.nonce != nonce or creds.uri != uri:
            return False
        if creds.opaque != self.opaque:
            return False
        if (creds.algorithm or "MD5").upper() != (algorithm or "MD5").upper():
            return False
        username = creds.username
        if username not in self.passwords:
            return False
        qop = creds.parameter("qop")
        if qop_offered:
            if qop not in qop_offered or creds.nc is None or creds.cnonce is None:
                return False
            nc = int(creds.nc, 16)
            key = (nonce, creds.cnonce)
            if nc <= self.last_nc.get(key, 0):  # replay
                return False
            self.last_nc[key] = nc
            cnonce = creds.cnonce
        elif qop is not None or creds.nc is not None:
            return False
        else:
            nc, cnonce = 0, ""
        name = (algorithm or "MD5").upper()
        # Independent arithmetic, straight from RFC 7616 section 3.4.
        hash_name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[
            name.removesuffix("-SESS")
        ]

        def H(data: bytes) -> str:
            return hashlib.new(hash_name, data).hexdigest()

        ha1 = H(f"{username}:{self.realm}:{self.passwords[username]}".encode())
        if name.endswith("-SESS"):
            # The session key is fixed by the first cnonce used with a nonce.
            first = self.session_cnonce.setdefault(nonce, cnonce)
            if first != cnonce:
                return False
            ha1 = H(f"{ha1}:{nonce}:{cnonce}".encode())
        a2 = f"{method}:{uri}"
        if qop == "auth-int":
            a2 += ":" + H(body)
        ha2 = H(a2.encode())
        if qop is None:
            expected = H(f"{ha1}:{nonce}:{ha2}".encode())
        else:
            expected = H(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}".encode())
        return creds.response == expected


# -- known vectors ------------------------------------------------------------------------


def test_rfc2617_example() -> None:
    result = digest_response(ALGORITHMS["MD5"], **RFC2617)  # type: ignore[arg-type]
    assert result == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    "algorithm, expected",
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    assert digest_response(ALGORITHMS[algorithm], **RFC7616) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "algorithm, expected",
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_through_a_session(algorithm: str, expected: str) -> None:
    session = AuthSession(
        Credentials("Mufasa", "Circle of Life"), cnonce=fixed_cnonces(str(RFC7616["cnonce"]))
    )
    challenge = www(
        realm="http-auth@example.org", qop="auth, auth-int", algorithm=algorithm,
        nonce=RFC7616["nonce"], opaque=RFC7616_OPAQUE,
    )
    assert session.handle_response(challenge_response(challenge)) == AuthRetry(
        ("http-auth@example.org",), stale=False
    )
    (header,) = session.authorize("GET", "/dir/index.html")
    assert isinstance(header, AuthorizationHeader)
    assert header.response == expected
    assert header.parameter("qop") == "auth" and header.nc == "00000001"
    assert header.opaque == RFC7616_OPAQUE and header.algorithm == algorithm
    assert header.username == "Mufasa" and header.uri == "/dir/index.html"
    assert str(header).startswith('Digest username="Mufasa", realm="http-auth@example.org"')
    assert "qop=auth," in str(header) and "nc=00000001" in str(header)


def test_rfc2069_without_qop() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=fixed_cnonces("x"))
    session.handle_response(challenge_response(www(realm="r", nonce="n")))
    (header,) = session.authorize("REGISTER", "sip:example.com")
    assert header.parameter("qop") is None and header.nc is None and header.cnonce is None
    assert header.algorithm is None
    assert header.response == digest_response(
        ALGORITHMS["MD5"], username="u", realm="r", password="p",
        method="REGISTER", uri="sip:example.com", nonce="n",
    )


# -- choosing among challenges ------------------------------------------------------------


def test_strongest_algorithm_wins() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=counter().__next__)
    response = challenge_response(
        www(realm="r", nonce="n1", algorithm="MD5", qop="auth"),
        www(realm="r", nonce="n2", algorithm="SHA-256", qop="auth"),
        www(realm="r", nonce="n3", algorithm="UNKNOWN-HASH", qop="auth"),
        WWWAuthenticateHeader("Basic", {"realm": '"r"'}),
    )
    assert isinstance(session.handle_response(response), AuthRetry)
    (header,) = session.authorize("INVITE", "sip:bob@example.com")
    assert header.algorithm == "SHA-256" and header.nonce == "n2"


def test_proxy_and_www_realms_answered_together() -> None:
    session = AuthSession(
        [Credentials("a", "pa", realm="proxy.example"), Credentials("b", "pb", realm="reg")],
        cnonce=counter().__next__,
    )
    response = challenge_response(
        ProxyAuthenticateHeader.digest(realm="proxy.example", nonce="pn", qop="auth"),
        www(realm="reg", nonce="rn", qop="auth"),
        code=407,
    )
    retry = session.handle_response(response)
    assert isinstance(retry, AuthRetry) and set(retry.realms) == {"proxy.example", "reg"}
    headers = session.authorize("INVITE", "sip:x@y")
    kinds = {type(h): h for h in headers}
    assert kinds[ProxyAuthorizationHeader].username == "a"
    assert kinds[AuthorizationHeader].username == "b"


def test_realm_restriction_and_unsupported_algorithm() -> None:
    session = AuthSession(Credentials("u", "p", realm="mine"))
    failed = session.handle_response(challenge_response(www(realm="theirs", nonce="n")))
    assert failed == AuthFailed(
        "realm 'theirs' is not the account's (credentials bound to 'mine')")
    assert session.authorize("INVITE", "sip:x@y") == ()
    failed = session.handle_response(
        challenge_response(www(realm="mine", nonce="n", algorithm="SHA-1"))
    )
    assert isinstance(failed, AuthFailed) and "unsupported digest algorithm SHA-1" in failed.reason
    assert isinstance(session.handle_response(challenge_response()), AuthFailed)
    assert parse_challenges(challenge_response(www(realm="r"))) == []  # no nonce


def test_auth_int_when_only_auth_int_is_offered() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=fixed_cnonces("c"))
    session.handle_response(challenge_response(www(realm="r", nonce="n", qop="auth-int")))
    (header,) = session.authorize("MESSAGE", "sip:b@h", b"hello")
    assert header.parameter("qop") == "auth-int"
    verifier = Verifier({"u": "p"}, "r")
    assert verifier.check(
        header, method="MESSAGE", uri="sip:b@h", nonce="n", algorithm=None,
        qop_offered=("auth-int",), body=b"hello",
    )
    assert not Verifier({"u": "p"}, "r").check(
        header, method="MESSAGE", uri="sip:b@h", nonce="n", algorithm=None,
        qop_offered=("auth-int",), body=b"other",
    )


# -- the cache, nc, stale and failures ------------------------------------------------------


def test_cached_header_counts_nc_per_nonce() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=counter().__next__)
    session.handle_response(challenge_response(www(realm="r", nonce="n1", qop="auth")))
    ncs = [session.authorize("REGISTER", "sip:r")[0].nc for _ in range(3)]
    assert ncs == ["00000001", "00000002", "00000003"]
    cnonces = {session.authorize("REGISTER", "sip:r")[0].cnonce for _ in range(2)}
    assert cnonces == {"cn1"}
    assert session.handle_response(SIPResponse(200, "OK")) is None
    # A new nonce (the old one expired): nc starts again, with a new cnonce.
    session.handle_response(challenge_response(www(realm="r", nonce="n2", qop="auth")))
    header = session.authorize("REGISTER", "sip:r")[0]
    assert (header.nonce, header.nc, header.cnonce) == ("n2", "00000001", "cn2")


def test_same_nonce_again_is_a_credential_failure() -> None:
    session = AuthSession(Credentials("u", "wrong"))
    challenge = challenge_response(www(realm="r", nonce="n", qop="auth"))
    assert isinstance(session.handle_response(challenge), AuthRetry)
    session.authorize("REGISTER", "sip:r")
    failed = session.handle_response(challenge)
    assert isinstance(failed, AuthFailed)
    assert failed.reason == "authentication failed for realm 'r': credentials refused"
    # Even after an earlier success, the same nonce refused is a failure.
    session = AuthSession(Credentials("u", "p"))
    session.handle_response(challenge)
    session.handle_response(SIPResponse(200, "OK"))
    assert isinstance(session.handle_response(challenge), AuthFailed)


def test_new_nonce_before_any_success_is_a_credential_failure() -> None:
    session = AuthSession(Credentials("u", "wrong"))
    session.handle_response(challenge_response(www(realm="r", nonce="n1")))
    session.authorize("REGISTER", "sip:r")
    failed = session.handle_response(challenge_response(www(realm="r", nonce="n2")))
    assert isinstance(failed, AuthFailed) and "authentication failed" in failed.reason
    # The failed challenge did not replace the cached one.
    assert session.authorize("REGISTER", "sip:r")[0].nonce == "n1"


def test_stale_retries_without_failing() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=counter().__next__)
    session.handle_response(challenge_response(www(realm="r", nonce="n1", qop="auth")))
    session.authorize("REGISTER", "sip:r")
    retry = session.handle_response(
        challenge_response(www(realm="r", nonce="n2", qop="auth", stale=True))
    )
    assert retry == AuthRetry(("r",), stale=True)
    header = session.authorize("REGISTER", "sip:r")[0]
    assert header.nonce == "n2" and header.nc == "00000001"
    assert session.handle_response(SIPResponse(200, "OK")) is None
    # After a success, the stale budget is whole again.
    for n in range(MAX_STALE):
        retry = session.handle_response(
            challenge_response(www(realm="r", nonce=f"s{n}", qop="auth", stale=True))
        )
        assert isinstance(retry, AuthRetry)
    failed = session.handle_response(
        challenge_response(www(realm="r", nonce="last", qop="auth", stale=True))
    )
    assert isinstance(failed, AuthFailed) and "stale" in failed.reason


def test_provisional_responses_confirm_nothing() -> None:
    session = AuthSession(Credentials("u", "p"))
    session.handle_response(challenge_response(www(realm="r", nonce="n1")))
    assert session.handle_response(SIPResponse(100, "Trying")) is None
    assert isinstance(session.handle_response(challenge_response(www(realm="r", nonce="n2"))),
                      AuthFailed)


def test_forget() -> None:
    session = AuthSession(Credentials("u", "p"))
    session.handle_response(challenge_response(www(realm="r", nonce="n1")))
    session.forget()
    assert session.authorize("REGISTER", "sip:r") == () and session.realms == []


# -- property: the verifier accepts everything the client computes --------------------------

text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=20
)
nonces = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"\\'),
    min_size=1, max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    username=text.filter(lambda s: s != ""),
    password=text,
    realm=text,
    nonce=nonces,
    opaque=st.none() | nonces,
    algorithm=st.sampled_from([None, *(a.name for a in ALGORITHMS.values())]),
    qop=st.sampled_from([None, "auth", "auth-int", "auth,auth-int"]),
    proxy=st.booleans(),
    method=st.sampled_from(["INVITE", "REGISTER", "MESSAGE", "BYE", "SUBSCRIBE"]),
    uri=st.from_regex(r"sips?:[a-z0-9.]{1,12}@[a-z0-9.]{1,12}(;[a-z]{1,5}=[a-z0-9]{1,5})?",
                      fullmatch=True),
    bodies=st.lists(st.binary(max_size=64), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_verifier_accepts_every_computed_header(
    username: str, password: str, realm: str, nonce: str, opaque: str | None,
    algorithm: str | None, qop: str | None, proxy: bool, method: str, uri: str,
    bodies: list[bytes], seed: int,
) -> None:
    kind = ProxyAuthenticateHeader if proxy else WWWAuthenticateHeader
    header = kind.digest(realm=realm, nonce=nonce, opaque=opaque, algorithm=algorithm, qop=qop)
    session = AuthSession(Credentials(username, password), cnonce=counter(f"{seed:x}-").__next__)
    retry = session.handle_response(challenge_response(header, code=407 if proxy else 401))
    if algorithm is not None and algorithm.upper().endswith("-SESS") and qop is None:
        # -sess needs a cnonce, which only exists with qop: refused rather than guessed.
        assert isinstance(retry, AuthFailed)
        return
    assert isinstance(retry, AuthRetry)
    verifier = Verifier({username: password}, realm, opaque)
    offered = tuple(q for q in (qop or "").split(",") if q)
    for body in bodies:  # the cache answers later requests with the same nonce
        (credentials,) = session.authorize(method, uri, body)
        assert isinstance(
            credentials, ProxyAuthorizationHeader if proxy else AuthorizationHeader
        )
        assert verifier.check(
            credentials, method=method, uri=uri, nonce=nonce, algorithm=algorithm,
            qop_offered=offered, body=body,
        )
    # And a wrong password is refused.
    wrong = AuthSession(Credentials(username, password + "x"), cnonce=lambda: "other")
    wrong.handle_response(challenge_response(header, code=407 if proxy else 401))
    (bad,) = wrong.authorize(method, uri, bodies[0])
    assert not Verifier({username: password}, realm, opaque).check(
        bad, method=method, uri=uri, nonce=nonce, algorithm=algorithm,
        qop_offered=offered, body=bodies[0],
    )


# -- realm binding, algorithm and qop policy, dialog scope ----------------------------------


def test_credentials_without_realm_answer_only_the_sessions_realms() -> None:
    session = AuthSession(Credentials("u", "p"), realms={"example.com"})
    failed = session.handle_response(challenge_response(www(realm="evil.test", nonce="n")))
    assert isinstance(failed, AuthFailed)
    assert "'evil.test' is not the account's" in failed.reason and "example.com" in failed.reason
    assert session.authorize("INVITE", "sip:x@y") == ()
    retry = session.handle_response(challenge_response(www(realm="example.com", nonce="n")))
    assert retry == AuthRetry(("example.com",), False)


def test_realms_learned_by_a_registration_are_answered_later() -> None:
    learned: set[str] = set()
    registration = AuthSession(Credentials("u", "p"), realms=None, learned=learned)
    assert isinstance(registration.handle_response(
        challenge_response(www(realm="registrar.realm", nonce="n", qop="auth"))), AuthRetry)
    registration.handle_response(SIPResponse(200, "OK", ()))
    assert learned == {"registrar.realm"}
    realms = {"example.com"} | learned
    call = AuthSession(Credentials("u", "p"), realms=realms)
    assert isinstance(call.handle_response(
        challenge_response(www(realm="registrar.realm", nonce="m", qop="auth"))), AuthRetry)


def test_a_refused_challenge_is_logged_with_its_reason(caplog: pytest.LogCaptureFixture) -> None:
    session = AuthSession(Credentials("u", "p"), realms={"example.com"})
    with caplog.at_level("WARNING", logger="sipsimple_services.signalling.sip.auth"):
        session.handle_response(challenge_response(www(realm="evil.test", nonce="n")))
    assert "'evil.test' is not the account's" in caplog.text


def test_md5_refused_when_the_credentials_say_so() -> None:
    session = AuthSession(Credentials("u", "p", allow_md5=False))
    failed = session.handle_response(challenge_response(www(realm="r", nonce="n", qop="auth")))
    assert isinstance(failed, AuthFailed) and "MD5 refused" in failed.reason
    failed = session.handle_response(
        challenge_response(www(realm="r", nonce="n", algorithm="MD5-sess", qop="auth")))
    assert isinstance(failed, AuthFailed) and "MD5 refused" in failed.reason
    assert session.authorize("REGISTER", "sip:r") == ()
    # a stronger algorithm offered alongside is taken
    retry = session.handle_response(challenge_response(
        www(realm="r", nonce="n1", qop="auth"),
        www(realm="r", nonce="n2", algorithm="SHA-256", qop="auth")))
    assert isinstance(retry, AuthRetry)
    (header,) = session.authorize("REGISTER", "sip:r")
    assert header.parameter("algorithm") == "SHA-256"


def test_qopless_challenge_refused_when_the_credentials_say_so() -> None:
    session = AuthSession(Credentials("u", "p", allow_qopless=False))
    failed = session.handle_response(challenge_response(www(realm="r", nonce="n")))
    assert isinstance(failed, AuthFailed) and "without qop (RFC 2069)" in failed.reason
    assert isinstance(session.handle_response(
        challenge_response(www(realm="r", nonce="n", qop="auth"))), AuthRetry)
    # by default an RFC 2069 challenge is still answered
    assert isinstance(AuthSession(Credentials("u", "p")).handle_response(
        challenge_response(www(realm="r", nonce="n"))), AuthRetry)


def test_in_dialog_requests_carry_only_the_dialogs_realms() -> None:
    session = AuthSession(Credentials("u", "p"), cnonce=counter().__next__)
    proxy = challenge_response(
        ProxyAuthenticateHeader.digest(realm="proxy", nonce="pn", qop="auth"), code=407)
    assert isinstance(session.handle_response(proxy), AuthRetry)
    assert len(session.authorize("INVITE", "sip:b@h")) == 1  # the INVITE sent again
    session.handle_response(SIPResponse(200, "OK", ()))
    # the proxy's realm challenged the dialog-creating INVITE, not the dialog
    assert session.authorize("BYE", "sip:b@h", in_dialog=True) == ()
    callee = challenge_response(www(realm="callee", nonce="cn", qop="auth"))
    assert isinstance(session.handle_response(callee, in_dialog=True), AuthRetry)
    (header,) = session.authorize("BYE", "sip:b@h", in_dialog=True)
    assert header.realm == "callee" and isinstance(header, AuthorizationHeader)
    # out of the dialog both realms are still answered
    assert {h.realm for h in session.authorize("OPTIONS", "sip:b@h")} == {"proxy", "callee"}


def test_the_realm_book_binds_each_account_to_its_domain_and_registrars() -> None:
    book = RealmBook()
    credentials = Credentials("alice", "p")
    assert book.session(None, "alice", "example.com") is None
    registration = book.session(credentials, "alice", "Example.COM", registration=True)
    assert registration is not None
    assert isinstance(registration.handle_response(
        challenge_response(www(realm="registrar.example.net", nonce="n", qop="auth"))), AuthRetry)
    registration.handle_response(SIPResponse(200, "OK", ()))
    call = book.session(credentials, "alice", "example.com")
    assert call is not None
    for realm in ("example.com", "EXAMPLE.com", "registrar.example.net"):
        assert isinstance(call.handle_response(
            challenge_response(www(realm=realm, nonce=f"n-{realm}", qop="auth"))), AuthRetry)
    # another account of the service learned nothing from alice's registrar
    other = book.session(credentials, "bob", "example.com")
    assert other is not None
    assert isinstance(other.handle_response(
        challenge_response(www(realm="registrar.example.net", nonce="n", qop="auth"))), AuthFailed)
    # a realm given with the credentials is the only one answered
    bound = book.session(Credentials("alice", "p", realm="other"), "alice", "example.com")
    assert bound is not None and isinstance(bound.handle_response(
        challenge_response(www(realm="example.com", nonce="n", qop="auth"))), AuthFailed)
