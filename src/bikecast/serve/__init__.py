"""HTTP serving of the model: FastAPI app, settings and request/response schemas."""

from bikecast.serve.app import create_app
from bikecast.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
