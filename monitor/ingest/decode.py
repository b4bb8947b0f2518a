"""Undo a response body's content coding (identity, gzip, deflate) in bounded steps.

Owns which codings `fetch` accepts and how much one step may inflate: at most `STEP_BYTES`
of output per call into zlib, so a compression bomb costs the body cap plus one step,
never a whole network read inflated at once. Pure: bytes in, bytes out, stdlib zlib only.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

# What `fetch` advertises in Accept-Encoding. Brotli and zstd are left out on purpose:
# the stdlib has no decoder for them whose output per step can be bounded.
ACCEPTED_CODINGS = ("gzip", "deflate")
STEP_BYTES = 256 * 1024
_IDENTITY = frozenset({"", "identity"})


class UnsupportedCoding(ValueError):
    """A content coding this module does not decode (br, zstd, compress, ...)."""

    def __init__(self, coding: str) -> None:
        super().__init__(coding)
        self.coding = coding


class CorruptBody(ValueError):
    """The body is not valid data in the coding the server declared."""


class BodyDecoder:
    """Decodes one body, chunk by chunk, yielding at most `step_bytes` at a time."""

    def __init__(self, coding: str, *, step_bytes: int = STEP_BYTES) -> None:
        self._coding = coding.strip().lower()
        if self._coding in _IDENTITY:
            self._inflater = None
        elif self._coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self._coding == "deflate":
            self._inflater = zlib.decompressobj()
        else:
            raise UnsupportedCoding(self._coding)
        self._step_bytes = step_bytes
        self._is_first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of `data`, in pieces of at most `step_bytes`."""
        if self._inflater is None:
            yield data
            return
        if self._is_first and data:
            self._is_first = False
            self._pick_deflate_framing(data)
        yield from self._inflate(data)

    def finish(self) -> Iterator[bytes]:
        """What zlib still holds once the body has ended, in bounded pieces."""
        if self._inflater is not None:
            yield from self._inflate(b"")

    def _pick_deflate_framing(self, data: bytes) -> None:
        # RFC 9110 8.4.1.2 says zlib-wrapped, but some servers send raw deflate: the zlib
        # header (RFC 1950 2.2: CM=8, header a multiple of 31) tells the two apart.
        if self._coding != "deflate" or len(data) < 2:
            return
        header = data[0] << 8 | data[1]
        if data[0] & 0x0F != 8 or header % 31 != 0:
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        assert self._inflater is not None  # only called for gzip and deflate
        pending = data
        while True:
            try:
                piece = self._inflater.decompress(pending, self._step_bytes)
            except zlib.error as exc:
                raise CorruptBody(f"invalid {self._coding} data: {exc}") from None
            if piece:
                yield piece
            pending = self._inflater.unconsumed_tail
            # A full step may leave output inside zlib even with no input left.
            if not pending and len(piece) < self._step_bytes:
                return
