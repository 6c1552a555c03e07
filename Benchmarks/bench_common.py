"""What the peer comparisons share: their common command line and time conversion."""
import argparse
from datetime import datetime, timezone


def arguments(description):
    """The arguments every comparison takes: the Cohort binary, the data directory,
    the evaluation time, repetitions per question and interleaved rounds."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("cohort")
    parser.add_argument("data")
    parser.add_argument("--now", default="2026-07-01")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    return parser


def epoch(text):
    """An ISO-8601 date or time (UTC when it has no offset) as Unix seconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())
