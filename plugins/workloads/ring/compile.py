"""Whether ``torch.compile`` (dynamo + the default inductor backend) can run here, and if not, why."""

from __future__ import annotations

import platform


def compile_problem(device: str = "auto") -> str | None:
    """One line saying why torch.compile cannot be used on ``device`` here, or None when it can.

    ``device`` is ``cpu``, ``cuda`` or ``auto`` (CUDA when available). Inductor generates C++
    kernels on CPU and Triton kernels on CUDA, so each needs its toolchain besides dynamo itself.
    These are the static preconditions; they do not compile anything.
    """
    import torch
    from torch._dynamo import eval_frame

    if not eval_frame.is_dynamo_supported():
        return f"torch {torch.__version__} has no dynamo support for Python {platform.python_version()} here"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "inductor needs Triton for CUDA kernels and it is not installed"
    from torch._inductor import cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception as exc:  # InvalidCxxCompiler, or whatever the search raises on a broken toolchain
        return f"inductor needs a C++ compiler for CPU kernels and found none ({type(exc).__name__})"
    return None
