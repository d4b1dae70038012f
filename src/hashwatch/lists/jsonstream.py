"""A small pull reader for large JSON documents of a known outline.

It walks the outer structure (objects and arrays) one token at a time and decodes each
inner value with the standard library's C decoder, so a file of hundreds of megabytes is
read in bounded memory: a chunk buffer plus the value being decoded. It knows the line of
every value it hands out, for error messages. Nesting inside a value is bounded by the
decoder's recursion limit, reported as an error rather than raised as a RecursionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TextIO

_WS = re.compile(r"[ \t\r\n]*")


class JsonStreamError(ValueError):
    """Malformed or oversized JSON; ``line`` is where it was found."""

    def __init__(self, reason: str, line: int):
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}")


class JsonStream:
    """Pull tokens from a text stream. ``max_value`` bounds the size of one decoded value."""

    def __init__(self, stream: TextIO, *, chunk: int = 1 << 20, max_value: int = 16 << 20):
        self._stream = stream
        self._chunk = chunk
        self.max_value = max_value
        self._decoder = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._mark = 0  # buf index whose line number is known
        self._mark_line = 1
        self.last_start = 0  # where the value try_value last decoded starts

    # -- buffer and lines ---------------------------------------------------------------
    def _fill(self) -> bool:
        """Read more text (at least doubling what is pending); False at end of input."""
        if self.eof:
            return False
        self.line()  # move the line mark up to pos before dropping consumed text
        self.buf = self.buf[self.pos :]
        self._mark = self.pos = 0
        try:
            data = self._stream.read(max(self._chunk, len(self.buf)))
        except UnicodeDecodeError as e:
            raise JsonStreamError(f"not valid text ({e.reason})", self._mark_line) from None
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def line(self, at: int | None = None) -> int:
        """Line number of buffer index ``at`` (default: the current position)."""
        at = self.pos if at is None else at
        if at < self._mark:
            return self._mark_line - self.buf.count("\n", at, self._mark)
        self._mark_line += self.buf.count("\n", self._mark, at)
        self._mark = at
        return self._mark_line

    def error(self, reason: str, at: int | None = None) -> JsonStreamError:
        return JsonStreamError(reason, self.line(at))

    # -- tokens -------------------------------------------------------------------------
    def peek(self) -> str:
        """The next non-blank character, not consumed; "" at the end of input."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            shown = repr(found) if found else "the end of the file"
            raise self.error(f"expected {char!r}, found {shown}")
        self.pos += 1

    def value(self) -> object:
        """Decode the next value whole."""
        self.peek()
        while True:
            try:
                obj, end = self._decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if self._need_more():
                    continue
                raise self.error(f"malformed JSON: {e.msg}", min(e.pos, len(self.buf))) from None
            except RecursionError:
                raise self.error("JSON nested too deeply") from None
            if end == len(self.buf) and isinstance(obj, int | float) and self._need_more():
                continue  # a number cut off at the end of the buffer
            self.pos = end
            return obj

    def try_value(self, lookahead: int) -> tuple[bool, object]:
        """Decode the next value if it lies within ``lookahead`` characters; else (False, None).

        The fast path for records: a whole record decodes in C. When it does not fit (or is
        malformed), the caller walks it token by token, which reports errors precisely.
        """
        if not self.peek():
            return False, None
        if len(self.buf) - self.pos < lookahead and not self.eof:
            self._fill()
        self.last_start = self.pos
        try:
            obj, end = self._decoder.raw_decode(self.buf, self.pos)
        except (json.JSONDecodeError, RecursionError):
            return False, None
        if end == len(self.buf) and not self.eof:
            return False, None
        self.pos = end
        return True, obj

    def _need_more(self) -> bool:
        if len(self.buf) - self.pos > self.max_value:
            raise self.error(f"a JSON value larger than {self.max_value >> 20} MiB")
        return self._fill()

    def items(self) -> Iterator[int]:
        """Walk an array: yields each element's index; the caller consumes the element."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c == "]":
                self.pos += 1
                return
            else:
                raise self.error(
                    f"expected ',' or ']' in an array, found {c!r}"
                    if c
                    else "the file ends inside an array"
                )

    def members(self) -> Iterator[str]:
        """Walk an object: yields each key; the caller consumes the value."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error("expected a quoted key in an object")
            key = self.value()
            assert isinstance(key, str)
            self.expect(":")
            yield key
            c = self.peek()
            if c == ",":
                self.pos += 1
            elif c == "}":
                self.pos += 1
                return
            else:
                raise self.error(
                    f"expected ',' or '}}' in an object, found {c!r}"
                    if c
                    else "the file ends inside an object"
                )

    def end(self) -> None:
        """Check that nothing but white space follows the document."""
        if self.peek():
            raise self.error("unexpected data after the end of the JSON document")
