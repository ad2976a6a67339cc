"""A file object cut off after a number of bytes: what joblib's decompressor yields may not inflate past it.

A joblib file compressed by joblib itself is capped on disk by updates.max_model_bytes, not in what it
inflates to: one BINBYTES8 opcode or one raw array of zeros can be gigabytes from a file of a few MB.
"""

from __future__ import annotations

from .refusal import Refused


class CappedStream:
    def __init__(self, raw, cap: int):
        self._raw, self._cap, self.left = raw, cap, cap

    def read(self, size: int = -1) -> bytes:
        """Never asks the decompressor for more than one byte past the cap, whatever size the file claims."""
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        return self._spent(self._raw.read(want))

    def readline(self, size: int = -1) -> bytes:
        want = self.left + 1 if size is None or size < 0 else min(size, self.left + 1)
        return self._spent(self._raw.readline(want))

    def reserve(self, nbytes: int, what: str) -> None:
        """Refuses before something of nbytes is allocated that the rest of the stream must then fill."""
        if nbytes > self.left:
            raise Refused(f"the joblib file's {what} of {nbytes:,} bytes would unpack past the "
                          f"{self._cap:,}-byte limit")

    def _spent(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left < 0:
            raise Refused(f"the joblib file unpacks to more than {self._cap:,} bytes (the limit)")
        return data
