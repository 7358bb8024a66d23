"""The HTTP API (FastAPI on uvicorn): a thin layer over the services, like ``core/cli``.

    python -m core serve                 # 127.0.0.1:8000; docs at /docs, metrics at /metrics

Modules: app (the application, errors, upload limit), routes (the endpoints), models (their
request and response models), auth (bearer tokens, loopback-only without them), runs (forecast
runs kept between requests), server (uvicorn). Never imports streamlit.
"""

from core.api.app import create_app

__all__ = ["create_app"]
