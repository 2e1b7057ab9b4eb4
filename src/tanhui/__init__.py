"""Tanhui (碳惠): a registry, MRV and market platform for small, scattered carbon reductions."""

__version__ = "0.1.0"
