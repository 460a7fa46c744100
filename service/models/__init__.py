"""ORM models, one module per table. Importing this package registers every table on
``service.db.Base.metadata`` (Alembic's env.py relies on that)."""

from service.models.device import Device
from service.models.graph import Graph
from service.models.job import JOB_STATUSES, Job
from service.models.measurement import Measurement
from service.models.prediction_log import PredictionLog
from service.models.predictor import Predictor

__all__ = ["Device", "Graph", "Job", "JOB_STATUSES", "Measurement", "PredictionLog", "Predictor"]
