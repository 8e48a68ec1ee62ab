"""What this CPU offers the detector, read at run time, and the precision the encoder runs in.

    python -m ml.inference.cpu_features        # prints the flags found and the path chosen

``DETECTOR_PRECISION`` picks the encoder's number format: ``auto`` (the default) takes bf16 where the
CPU multiplies bf16 natively (AVX-512 BF16 or AMX) and fp32 elsewhere; ``fp32`` or ``bf16`` force a
path (bf16 on a CPU without it runs, emulated and slow: for tests and comparisons only).
``DETECTOR_THREADS`` sets the math threads per worker process; by default the cores this process may
run on (its affinity mask), at most 2, divided among ``DETECTOR_WORKERS_PER_HOST`` worker processes.
"""
from __future__ import annotations

import os
from functools import lru_cache

PRECISIONS = ("auto", "fp32", "bf16")
# Flags (as Linux names them in /proc/cpuinfo) that matter to the encoder's matrix products.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
REPORTED = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (Linux); none elsewhere, so the fp32 path is taken."""
    try:
        with open(cpuinfo) as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_bf16(flags: frozenset[str] | None = None) -> bool:
    return any(f in (cpu_flags() if flags is None else flags) for f in BF16_FLAGS)


def has_int8_dot(flags: frozenset[str] | None = None) -> bool:
    return any(f in (cpu_flags() if flags is None else flags) for f in INT8_FLAGS)


def choose_precision(flags: frozenset[str] | None = None, env: dict | None = None) -> str:
    """``fp32`` or ``bf16``: what ``DETECTOR_PRECISION`` asks for, ``auto`` resolved from the flags."""
    wanted = ((os.environ if env is None else env).get("DETECTOR_PRECISION") or "auto").strip().lower()
    if wanted not in PRECISIONS:
        raise ValueError(f"DETECTOR_PRECISION={wanted!r}: expected one of {', '.join(PRECISIONS)}")
    if wanted != "auto":
        return wanted
    return "bf16" if has_bf16(flags) else "fp32"


def worker_threads(env: dict | None = None) -> int:
    """Math threads for one worker process: ``DETECTOR_THREADS``, else its share of the cores it may use
    (at most 2: a third thread on a 10 s clip's handful of crops buys little)."""
    env = os.environ if env is None else env
    if int(env.get("DETECTOR_THREADS") or 0) > 0:
        return int(env["DETECTOR_THREADS"])
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    workers = max(1, int(env.get("DETECTOR_WORKERS_PER_HOST") or 1))
    return max(1, min(2, cores // workers))


def describe(flags: frozenset[str] | None = None) -> str:
    """One line for logs and benches: the flags that matter and the path chosen."""
    flags = cpu_flags() if flags is None else flags
    found = [f for f in REPORTED if f in flags] or ["none of " + ", ".join(REPORTED)]
    return (f"CPU features: {' '.join(found)}; bf16 matmul: {'yes' if has_bf16(flags) else 'no'}, "
            f"int8 dot product (VNNI/AMX): {'yes' if has_int8_dot(flags) else 'no'}; "
            f"encoder precision: {choose_precision(flags)}")


if __name__ == "__main__":
    print(describe())
    print(f"threads per worker: {worker_threads()}")
