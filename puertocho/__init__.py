"""Puertocho: train, evaluate and ship a custom openWakeWord wake word, stage by stage."""
import logging

__version__ = "0.1.0"


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with timestamps; stages call this once."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
