"""Roll a Prefect Customer-Managed release back: databases first, with the newer image, then the chart."""

__version__ = "0.1.0"
