"""Turning generated token bytes into visible text: UTF-8 reassembly, stop strings and hold-back.

Text is released only when no stop string (or marker such as `<tool_call>`) could still start inside it,
so a stop string never reaches the client, not even split across tokens.
"""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, stops: list[str], markers: tuple[str, ...] = (), hold_whitespace: bool = False) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._watch = [s for s in (*stops, *markers) if s]
        self._stops = [s for s in stops if s]
        self._longest = max((len(s) for s in self._watch), default=0)
        self._hold_whitespace = hold_whitespace
        self.text = ""
        self.emitted = 0  # characters of `text` already released
        self.token_ends: list[int] = []  # len(text) after each pushed token

    def push(self, piece: bytes) -> None:
        self.text += self._decoder.decode(piece)
        self.token_ends.append(len(self.text))

    def find(self, needle: str, start: int | None = None) -> int:
        """Where `needle` first occurs in the unreleased text (or from `start`), or -1."""
        begin = self.emitted if start is None else start
        return self.text.find(needle, max(0, begin))

    def find_stop(self) -> int:
        """The position of the earliest stop string in the unreleased text, or -1."""
        hits = [i for stop in self._stops if (i := self.find(stop)) >= 0]
        return min(hits, default=-1)

    def release(self, end: int | None = None) -> str:
        """Release text up to `end` (default: all that can no longer start a stop string or marker)."""
        if end is None:
            end = len(self.text) - self._held_suffix()
        end = max(end, self.emitted)
        out = self.text[self.emitted : end]
        self.emitted = end
        return out

    def _held_suffix(self) -> int:
        tail = self.text[max(self.emitted, len(self.text) - self._longest) :]
        held = 0
        for watched in self._watch:
            for size in range(min(len(watched) - 1, len(tail)), held, -1):
                if tail.endswith(watched[:size]):
                    held = size
                    break
        if self._hold_whitespace:
            unreleased = self.text[self.emitted : len(self.text) - held]
            held += len(unreleased) - len(unreleased.rstrip())
        return held

    def tokens_before(self, position: int) -> int:
        """How many pushed tokens end at or before character `position`."""
        return sum(1 for end in self.token_ends if end <= position)
