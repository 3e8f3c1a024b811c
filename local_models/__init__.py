"""Local GGUF models: the offline registry, the llama.cpp engine and an OpenAI-compatible server.

Nothing heavy is imported here: `llama_cpp` loads only when a model is actually opened.
"""

from local_models.errors import (
    ChecksumMismatchError,
    ModelDownloadError,
    ModelError,
    ModelNotInstalledError,
    UnknownModelError,
)
from local_models.registry import MODELS, ModelSpec, resolve_model

__all__ = [
    "MODELS",
    "ChecksumMismatchError",
    "ModelDownloadError",
    "ModelError",
    "ModelNotInstalledError",
    "ModelSpec",
    "UnknownModelError",
    "resolve_model",
]
