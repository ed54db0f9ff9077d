"""This machine: its description, its calibrated rates and the model that predicts step times.

``analyzer.machine`` keeps the names of the former module importable: ``blas_threads``,
``machine_info``, ``Roofline`` and ``calibrate``.
"""

from ..blas import blas_threads
from .calibration import (
    CALIBRATION_SECONDS,
    cache_path,
    calibrate,
    calibration_table,
    fit_bandwidth,
)
from .info import fingerprint, machine_info, nominal_caches
from .model import (
    CALIBRATION_VERSION,
    Calibration,
    Roofline,
    StepPrediction,
    predict_step,
    shape_class,
)

__all__ = [
    "blas_threads",
    "machine_info",
    "fingerprint",
    "nominal_caches",
    "Roofline",
    "Calibration",
    "CALIBRATION_VERSION",
    "CALIBRATION_SECONDS",
    "StepPrediction",
    "predict_step",
    "shape_class",
    "calibrate",
    "calibration_table",
    "cache_path",
    "fit_bandwidth",
]
