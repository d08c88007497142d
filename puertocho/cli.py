"""What every stage script shares: argument parsing, logging, and one clear line on expected errors."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from puertocho import setup_logging
from puertocho.audio import AudioError
from puertocho.params import Params, ParamsError, load_params
from puertocho.real_speech import PrecomputedFeaturesError, SourceUnavailable
from puertocho.sources import NotEnoughData
from puertocho.tts import EngineUnavailable

EXPECTED_ERRORS = (ParamsError, AudioError, EngineUnavailable, FileNotFoundError, NotEnoughData, SourceUnavailable,
                   PrecomputedFeaturesError)


def stage_main(description: str, run: Callable[[Params, argparse.Namespace], None],
               add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Parse --params (and the stage's own flags), load params, run; expected errors exit 1 with one line."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="the params file to read")
    parser.add_argument("--verbose", action="store_true", help="log debug messages")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        run(load_params(args.params), args)
    except EXPECTED_ERRORS as error:
        logging.getLogger("puertocho").error("%s", error)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
