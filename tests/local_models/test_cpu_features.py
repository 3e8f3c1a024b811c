"""The llama.cpp build check: a build for instructions this CPU lacks is refused with a clear error, not run."""

from __future__ import annotations

import os
from pathlib import Path

import llama_cpp
import pytest

from local_models.cpu_features import build_features, check_llama_build, cpu_flags, missing_instructions
from local_models.errors import ModelError

NATIVE_AVX512_BUILD = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
    "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | "
)
PORTABLE_BUILD = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | OPENMP = 1 | "
HASWELL_CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) CPU E5-2680 v3
flags\t\t: fpu sse sse2 pni ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi1 bmi2
"""


def test_build_features_and_cpu_flags_parse() -> None:
    assert {"AVX2", "AVX512", "AMX_INT8", "OPENMP"} <= build_features(NATIVE_AVX512_BUILD)
    assert "AVX512" not in build_features(PORTABLE_BUILD)
    assert cpu_flags(HASWELL_CPUINFO) == set(
        ["fpu", "sse", "sse2", "pni", "ssse3", "fma", "cx16", "sse4_1", "sse4_2", "avx", "f16c", "avx2", "bmi1", "bmi2"]
    )
    assert cpu_flags("processor : 0\n") is None


def test_a_native_avx512_build_on_an_avx2_cpu_is_refused_by_name(tmp_path: Path) -> None:
    assert missing_instructions(NATIVE_AVX512_BUILD, HASWELL_CPUINFO) == [
        "AMX_INT8",
        "AVX512",
        "AVX512_BF16",
        "AVX512_VBMI",
        "AVX512_VNNI",
        "AVX_VNNI",
    ]
    assert missing_instructions(PORTABLE_BUILD, HASWELL_CPUINFO) == []
    assert missing_instructions(NATIVE_AVX512_BUILD, "no flags here") == []  # unknown CPU: nothing to compare


def test_check_against_the_installed_build(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(HASWELL_CPUINFO)
    installed = build_features(llama_cpp.llama_print_system_info().decode())
    if installed & {"AVX512", "AMX_INT8", "AVX_VNNI"}:
        with pytest.raises(ModelError, match=r"make install"):
            check_llama_build(cpuinfo)
    else:
        check_llama_build(cpuinfo)  # the portable build runs on any AVX2 CPU
    check_llama_build()  # and on this machine's CPU, or no test with a model could run here
    check_llama_build(tmp_path / "missing")  # unreadable cpuinfo: nothing to check


def test_the_engine_generates_on_every_usable_core_by_default() -> None:
    # llama-cpp-python's own default generates on half the cores: one thread on a 2-core machine
    from local_models.cpu_features import usable_cores
    from local_models.engine import load_engine
    from local_models.server.settings import default_cache_dir

    engine = load_engine("smollm2-135m", default_cache_dir(), n_ctx=256)
    try:
        assert engine.llm.n_threads == engine.llm.n_threads_batch == usable_cores()
        assert engine.llm.context_params.n_threads == usable_cores()
    finally:
        engine.close()
    assert usable_cores() == len(os.sched_getaffinity(0))
