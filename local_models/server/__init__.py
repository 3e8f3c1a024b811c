"""The OpenAI-compatible HTTP server over one local engine (FastAPI + one worker thread).

`create_app(settings, engine)` builds the app; `run_server(settings)` loads the model and serves it
with uvicorn (what `ragloop serve-model` and `python -m local_models.server` do).
"""

from local_models.server.app import create_app, load_engine_for
from local_models.server.run import run_server
from local_models.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "load_engine_for", "run_server"]
