"""`capped_stderr()`: keep what native code writes to file descriptor 2 short.

llama.cpp reports a grammar it cannot parse with `fprintf(stderr, ...)` followed by the whole grammar
(about 120 KB for a long `maxLength`), once per rejected request, bypassing Python's logging. Around the
grammar check, fd 2 points at a temporary file; afterwards its first `limit` characters are written to
the real stderr, with a note of how much was cut. Whatever another thread writes to stderr during those
few milliseconds is passed on too (up to the limit).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

DEFAULT_LIMIT = 1000


@contextlib.contextmanager
def capped_stderr(limit: int = DEFAULT_LIMIT) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.fstat(captured.fileno()).st_size
            if size:
                captured.seek(0)
                text = captured.read(limit).decode("utf-8", errors="replace")
                if size > limit:
                    text = text.rstrip("\n") + f" [... {size - limit:,} more bytes not shown]\n"
                sys.stderr.write(text)
                sys.stderr.flush()
