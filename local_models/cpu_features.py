"""Does this CPU run the installed llama.cpp build? A build compiled for a newer CPU (AVX-512, AMX) dies on an
older one with SIGILL or SIGSEGV at the first matrix product, which takes the model server or the test run
with it. Wheels travel (pip's cache, a copied venv), so the check runs before a model is loaded: a clear error
naming the missing instructions instead of a crash.

It cannot catch a CPU that advertises an instruction set the sandbox does not allow: these machines list AMX
in /proc/cpuinfo, yet AMX code faults. The Makefile's build leaves AMX out for that reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from local_models.errors import ModelError

# llama.cpp's system-info names → the flag /proc/cpuinfo shows for the same instructions
CPUINFO_FLAG = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}
_ENABLED = re.compile(r"\b([A-Z][A-Z0-9_]*) = 1\b")


def build_features(system_info: str) -> set[str]:
    """The instruction sets a llama.cpp build uses, from `llama_print_system_info()`'s text."""
    return set(_ENABLED.findall(system_info))


def cpu_flags(cpuinfo: str) -> set[str] | None:
    """The first processor's flags from /proc/cpuinfo text; None when there is no flags line (not x86 Linux)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return None


def missing_instructions(system_info: str, cpuinfo: str) -> list[str]:
    """Instruction sets the build uses that this CPU lacks (empty when unknown: nothing to compare against)."""
    flags = cpu_flags(cpuinfo)
    if flags is None:
        return []
    return sorted(
        name for name in build_features(system_info) if name in CPUINFO_FLAG and CPUINFO_FLAG[name] not in flags
    )


def check_llama_build(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> None:
    """Raise `ModelError` when the installed llama-cpp-python was built for instructions this CPU lacks."""
    import llama_cpp

    try:
        cpuinfo = cpuinfo_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    missing = missing_instructions(llama_cpp.llama_print_system_info().decode("utf-8", "replace"), cpuinfo)
    if missing:
        raise ModelError(
            f"The installed llama-cpp-python was built for a CPU with {', '.join(missing)}, which this CPU lacks; "
            "running it would crash. Rebuild it for this machine: `make install` builds a portable one "
            "(or `CMAKE_ARGS=-DGGML_NATIVE=OFF pip install --no-cache-dir --force-reinstall llama-cpp-python`)."
        )


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, else the machine's count): ragloop's default
    thread count for llama.cpp. llama-cpp-python's own default is half the cores for generation, which on a
    2-core machine generates on one thread at about half the speed."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return max(os.cpu_count() or 1, 1)
