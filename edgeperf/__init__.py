"""edgeperf: latency, energy and peak-memory prediction for neural networks on edge devices."""

__version__ = "0.1.0"
