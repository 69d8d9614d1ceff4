"""CLI subcommand `train` (registered by core.__main__)."""
from __future__ import annotations

import math
import signal
import time
from contextlib import contextmanager
from typing import Iterator

from .tasks import TASKS
from .training import TRAIN_FIELDS, TrainConfig, train

PROGRESS_SECONDS = 2.0


def _add(parser):
    from .__main__ import add_fields
    add_fields(parser, TRAIN_FIELDS, defaults=TrainConfig())
    parser.epilog = "tasks: " + " ".join(f"{name}: {t.description}" for name, t in TASKS.items())


class _Interrupted:
    """Set by Ctrl-C (SIGINT) while a run trains."""
    is_set: bool = False


@contextmanager
def _interruptible() -> Iterator[_Interrupted]:
    """Ctrl-C stops a long run within one step. The KeyboardInterrupt raised by Python's handler can be lost when
    it lands inside a call that swallows it (seen once in a full test-suite run on a loaded machine: the run went
    on for a minute with nothing on stderr); the flag set here is checked after every step as well. Called off
    the main thread (where no signal handler can be set), it leaves Ctrl-C to Python's own handler."""
    interrupted = _Interrupted()

    def on_sigint(signum, frame):
        interrupted.is_set = True
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
        installed = True
    except ValueError:                    # not the main thread: signal handlers belong to the main thread
        installed = False
    try:
        yield interrupted
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous)


def cmd_train(args) -> int:
    with _interruptible() as interrupted:
        return _train(args, interrupted)


def _train(args, interrupted: _Interrupted) -> int:
    from .__main__ import emit_json, given
    cfg = TrainConfig(**given(args, TRAIN_FIELDS))
    task = TASKS[cfg.task]
    records = []
    printed_at = -math.inf
    for record in train(cfg):
        if interrupted.is_set:
            raise KeyboardInterrupt
        records.append(record)
        # progress at the first step, then every twentieth of the run or every PROGRESS_SECONDS, whichever
        # comes first, so a long run shows signs of life at once
        now = time.monotonic()
        due = record.step == 1 or record.step % max(1, cfg.steps // 20) == 0 or now - printed_at >= PROGRESS_SECONDS
        if not args.json and (due or not record.finite or record.step == cfg.steps):
            printed_at = now
            print(f"step {record.step:6d}  {task.loss_name} {record.loss:.4g}  ‖g‖ {record.grad_norm:.3g}"
                  + ("  clipped" if record.clipped else "") + ("  NaN/inf: stopped" if not record.finite else ""),
                  flush=True)
    diverged = next((r.step for r in records if not r.finite), None)
    if args.json:
        emit_json({"baseline": task.baseline, "baseline_label": task.baseline_label, "loss_name": task.loss_name,
                   "diverged": diverged is not None, "diverged_at": diverged,
                   "records": [r.to_json_dict() for r in records], "config": cfg.to_dict()})
    else:
        print(f"chance level ({task.baseline_label}) = {task.baseline:.4g}; "
              + (f"diverged at step {diverged}" if diverged else f"final {task.loss_name} {records[-1].loss:.4g}"))
    return 0


COMMANDS = {"train": ("train a network on a long-range task and report every step", _add, cmd_train)}
