"""The generator's command line: ``python -m customer_purchase_prediction.synthetic``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.synthetic import (
    DEFAULT_ID_START,
    DEFAULT_MESSY_FRACTION,
    DEFAULT_MISSING_FRACTION,
    SHIFTS,
    generate_sessions,
    write_frame,
)

logger = logging.getLogger(__name__)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m customer_purchase_prediction.synthetic",
        description=(
            "Generate synthetic e-commerce browsing sessions with a known purchase "
            "probability. Same arguments give a byte-identical file. See "
            "docs/data_generation.md for the generative process."
        ),
        epilog=(
            "example: python -m customer_purchase_prediction.synthetic --rows 1000 "
            "--seed 42 --out data/01_raw/customer_sessions.csv"
        ),
    )
    parser.add_argument("--rows", type=int, required=True, help="number of sessions")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output file: CSV, or Parquet if it ends with .parquet",
    )
    parser.add_argument(
        "--unlabelled",
        action="store_true",
        help="leave out the purchase column (sessions to score)",
    )
    parser.add_argument(
        "--messy-fraction",
        type=float,
        default=DEFAULT_MESSY_FRACTION,
        metavar="F",
        help="share of rows with a messy value, half harmless (default: %(default)s)",
    )
    parser.add_argument(
        "--missing-fraction",
        type=float,
        default=DEFAULT_MISSING_FRACTION,
        metavar="F",
        help="chance that each feature cell is empty (default: %(default)s)",
    )
    parser.add_argument(
        "--id-start",
        type=int,
        default=DEFAULT_ID_START,
        metavar="ID",
        help="first customer_id (default: %(default)s)",
    )
    parser.add_argument(
        "--shift",
        choices=SHIFTS,
        help=(
            "draw sessions unlike the training ones, to test drift monitoring: "
            "longer_sessions (time_spent doubled), more_mobile (85%% Mobile), "
            "new_device_label (20%% SmartTV, which the contract rejects), "
            "purchase_rule (another purchase rule, the sessions unchanged)"
        ),
    )
    parser.add_argument(
        "--true-probabilities",
        type=Path,
        metavar="FILE",
        help="also write customer_id,true_probability (clean values) to FILE",
    )
    parser.add_argument(
        "--outcomes",
        type=Path,
        metavar="FILE",
        help=(
            "also write the sessions' outcomes, customer_id,purchase as a labelled "
            "file would hold them, to FILE (for kedro run --pipelines=monitoring)"
        ),
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Generate sessions from the command line and write them to a file."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    sessions, truth = generate_sessions(
        args.rows,
        args.seed,
        labelled=not args.unlabelled,
        messy_fraction=args.messy_fraction,
        id_start=args.id_start,
        missing_fraction=args.missing_fraction,
        shift=args.shift,
    )
    write_frame(sessions, args.out)
    if args.outcomes is not None:
        labelled = sessions
        if args.unlabelled:
            labelled, _ = generate_sessions(
                args.rows,
                args.seed,
                messy_fraction=args.messy_fraction,
                id_start=args.id_start,
                missing_fraction=args.missing_fraction,
                shift=args.shift,
            )
        write_frame(labelled[[ID_COLUMN, LABEL_COLUMN]], args.outcomes)
        logger.info("Wrote their outcomes to %s", args.outcomes)
    truth_note = ""
    if args.true_probabilities is not None:
        write_frame(truth, args.true_probabilities)
        truth_note = f" and true probabilities to {args.true_probabilities}"
    logger.info(
        "Wrote %d %s%s sessions (seed %d, messy fraction %s) to %s%s",
        len(sessions),
        "unlabelled" if args.unlabelled else "labelled",
        f" {args.shift}-shifted" if args.shift else "",
        args.seed,
        args.messy_fraction,
        args.out,
        truth_note,
    )
    return 0
