"""Whether this machine has a usable CUDA device, asked of the NVIDIA driver itself.

implicit's ``implicit.gpu.HAS_CUDA`` answers a different question: whether its GPU path can
run here, which also needs RMM (``pip install rmm-cu12`` or ``rmm-cu13``). A machine can have a
GPU that implicit cannot use; this probe tells the two apart, so that the training factory
can say why it trains on the CPU and the GPU tests skip only where there is no device.

The probe loads the driver's library (``libcuda.so.1``) with ctypes and asks ``cuInit`` and
``cuDeviceGetCount``: no CUDA toolkit, no Python package, nothing at import time.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

DRIVER_LIBRARY = "libcuda.so.1"
CUDA_SUCCESS = 0
CUDA_ERROR_NO_DEVICE = 100
IMPLICIT_GPU_NEEDS = "implicit's GPU path needs RMM: pip install rmm-cu12 (or rmm-cu13 for CUDA 13)"


@dataclass(frozen=True)
class CudaProbe:
    """How many CUDA devices the driver reports, and why none is usable when it is 0."""

    devices: int
    problem: str | None = None


def probe_driver(library: str = DRIVER_LIBRARY) -> CudaProbe:
    """The driver's answer for ``library`` (uncached; ``cuda_probe`` is the cached one)."""
    try:
        driver = ctypes.CDLL(library)
    except OSError as err:
        return CudaProbe(0, f"no NVIDIA driver: {library} cannot be loaded ({err})")
    try:
        init, count_devices = driver.cuInit, driver.cuDeviceGetCount
    except AttributeError as err:
        return CudaProbe(0, f"{library} is not a CUDA driver ({err})")
    status = init(0)
    if status == CUDA_ERROR_NO_DEVICE:
        return CudaProbe(0, "the NVIDIA driver reports no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)")
    if status != CUDA_SUCCESS:
        return CudaProbe(0, f"the NVIDIA driver cannot start (cuInit returned CUDA error {status})")
    count = ctypes.c_int(0)
    status = count_devices(ctypes.byref(count))
    if status != CUDA_SUCCESS:
        return CudaProbe(0, f"the NVIDIA driver cannot count its devices (CUDA error {status})")
    if count.value == 0:
        return CudaProbe(0, "the NVIDIA driver reports 0 CUDA devices")
    return CudaProbe(count.value)


@functools.cache
def cuda_probe() -> CudaProbe:
    """``probe_driver()`` once per process: the devices do not come and go during a run."""
    return probe_driver()
