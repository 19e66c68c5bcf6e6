"""The values of the CPIM headers other than the identities: the Subject text
(`MultilingualText`), NS declarations (`CPIMNamespace`) and extension headers
(`CPIMHeader`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sipsimple.payloads.cpim.syntax import CPIM_NAMESPACE


class MultilingualText(str):
    """A text with translations, as the CPIM Subject header carries it.

    The string value is the main text (in `language`, None when untagged);
    `translations` maps language tags to the other versions. Compared with a
    plain string only the main text counts; two MultilingualText are equal when
    all their versions are.
    """

    language: str | None
    translations: Mapping[str, str]

    def __new__(
        cls,
        text: str = "",
        translations: Mapping[str, str] | None = None,
        /,
        *,
        language: str | None = None,
        **more: str,
    ) -> MultilingualText:
        self = super().__new__(cls, text)
        merged = dict(translations or {})
        merged.update(more)
        # Immutable like the frozen dataclasses that hold it.
        object.__setattr__(self, "language", language)
        object.__setattr__(self, "translations", MappingProxyType(merged))
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"MultilingualText is immutable (cannot set {name})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_multilingual, (str(self), dict(self.translations), self.language))

    def get_translation(self, language: str) -> str | None:
        wanted = language.lower()
        if self.language is not None and self.language.lower() == wanted:
            return str(self)
        for lang, text in self.translations.items():
            if lang.lower() == wanted:
                return text
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultilingualText):
            return (
                str.__eq__(self, other)
                and self.language == other.language
                and dict(self.translations) == dict(other.translations)
            )
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return (
            f"MultilingualText({str.__repr__(self)}, {dict(self.translations)!r}, "
            f"language={self.language!r})"
        )


def _multilingual(
    text: str, translations: dict[str, str], language: str | None
) -> MultilingualText:
    return MultilingualText(text, translations, language=language)


@dataclass(frozen=True)
class CPIMNamespace:
    """An NS declaration: `prefix` (None for the default namespace) bound to `uri`."""

    uri: str
    prefix: str | None = None


@dataclass(frozen=True)
class CPIMHeader:
    """A message header other than the standard ones, e.g. ``imdn.Message-ID``.

    `namespace` is the URI the prefix stood for (`CPIM_NAMESPACE` for an
    unprefixed header), `prefix` the one written (None when unprefixed), and
    `parameters` the ``;name=value`` pairs in order.
    """

    name: str
    value: str
    namespace: str = CPIM_NAMESPACE
    prefix: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()
