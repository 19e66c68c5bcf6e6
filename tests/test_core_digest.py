"""The shared Digest formula (`sipsimple.core.digest`) against the RFCs' examples."""

from __future__ import annotations

from sipsimple.core.digest import ALGORITHMS, digest_response


def test_rfc2617_example() -> None:
    assert digest_response(
        ALGORITHMS["MD5"], username="Mufasa", realm="testrealm@host.com",
        password="Circle Of Life", method="GET", uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc=1, cnonce="0a4f113b", qop="auth",
    ) == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_sha256_example() -> None:
    assert digest_response(
        ALGORITHMS["SHA-256"], username="Mufasa", realm="http-auth@example.org",
        password="Circle of Life", method="GET", uri="/dir/index.html",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=1,
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop="auth",
    ) == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


def test_rfc2069_without_qop() -> None:
    import hashlib

    def h(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    expected = h(f"{h('u:r:p')}:n:{h('AUTH:msrp://relay:2855;tcp')}")
    assert digest_response(ALGORITHMS["MD5"], username="u", realm="r", password="p",
                           method="AUTH", uri="msrp://relay:2855;tcp", nonce="n") == expected
