"""The run folder: the one owner of a run's files, from its creation (or refusal,
replacement, reopening for resume) to every write. Every file is written to a
temporary name and renamed (`write_atomic`), so a kill loses at most the epoch in
progress. Epoch `n`'s resume state is `resume/epoch_n.weights.h5`, then the commit
point `resume/state.json` (`{"epoch": n, "weights": ..., "history": [...]}`). No
Keras import: the command line uses this module before Keras starts."""

import contextlib
import csv
import io
import json
import os
import pathlib
import shutil
import tempfile

STATE = "state.json"
CLASSES = "classes.json"  # a class-conditional run's class names, in label order


def write_atomic(path, write):
    """`write(tmp)` on a temporary path beside `path` (same suffixes, which Keras
    checks), then `os.replace` onto `path`."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".tmp_{os.getpid()}_{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path, data, indent=2):
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=indent)))


def save_weights(model, path):
    """`model.save_weights(path)`, atomically."""
    write_atomic(path, lambda tmp: model.save_weights(str(tmp)))


def class_names(out):
    """The class names a class-conditional run stored, or `None`."""
    path = pathlib.Path(out) / CLASSES
    return json.loads(path.read_text()) if path.exists() else None


def read_state(resume_dir):
    """The committed resume state of `resume_dir` (a dict), or `None`."""
    resume_dir = pathlib.Path(resume_dir)
    path = resume_dir / STATE
    if not path.exists():
        if (resume_dir / "training_metadata.json").exists():
            raise ValueError(
                f"{resume_dir} holds the resume state of an older keras_flows "
                "(Keras' BackupAndRestore files), which this version does not "
                "read: start the run again with --overwrite"
            )
        return None
    try:
        state = json.loads(path.read_text())
        weights = resume_dir / state["weights"]
        epoch, history = int(state["epoch"]), list(state["history"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} cannot be read ({error})") from None
    if not weights.exists():
        raise ValueError(f"{path} names {weights.name}, which is missing")
    return dict(epoch=epoch, weights=weights, history=history)


def write_history(out, history):
    """`history.csv` and `history.json` from a list of per-epoch log dicts;
    epochs are numbered from 1, as Keras' progress bar and `samples/` are."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, ["epoch", *keys], restval="NA")
    writer.writeheader()
    writer.writerows({"epoch": e, **row} for e, row in enumerate(history, start=1))
    write_atomic(out / "history.csv", lambda tmp: tmp.write_text(text.getvalue()))
    write_json(out / "history.json", {k: [row.get(k) for row in history] for k in keys})


def check_new(out, overwrite=False):
    """Refuses an `out` that is a file, or a run folder without `overwrite`
    (suggesting `--resume` only where there is something to resume)."""
    out = pathlib.Path(out)
    if out.is_file():
        raise ValueError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        try:
            stored_run(out)
        except ValueError as error:
            why = str(error).split(": ", 1)[-1]
            raise ValueError(
                f"--out {out} is not empty and cannot be resumed ({why}): add "
                "--overwrite to replace it, or choose another --out"
            ) from None
        raise ValueError(
            f"--out {out} already holds a run: add --overwrite to replace it, "
            f"--resume {out} to continue it, or choose another --out"
        )


def stored_run(out):
    """The `run.json` record (`{"recipe", "options", ...}`) of a resumable run."""
    out = pathlib.Path(out)
    if not out.is_dir():
        raise ValueError(f"cannot resume {out}: no such folder")
    try:
        record = json.loads((out / "run.json").read_text())
        record["recipe"], record["options"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(f"cannot resume {out}: no readable run.json in it") from None
    try:
        state = read_state(out / "resume")
    except ValueError as error:
        raise ValueError(f"cannot resume {out}: {error}") from None
    if state is None:
        raise ValueError(
            f"cannot resume {out}: nothing to resume, the run stopped before the "
            f"end of its first epoch (start it again: --out {out} --overwrite)"
        )
    return record


def start(out, record, overwrite=False):
    """Creates the run folder `out` (emptied first when `overwrite`) with its
    `run.json`; returns whether the folder is new."""
    out = pathlib.Path(out)
    if overwrite and out.is_dir():
        shutil.rmtree(out)  # the user asked for it; nothing of the old run stays
    new = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "run.json", record)
    return new


def remove_if_unstarted(out):
    """Deletes `out` if it holds only `run.json`: a failed start leaves nothing."""
    out = pathlib.Path(out)
    if out.is_dir() and [p.name for p in out.iterdir()] == ["run.json"]:
        shutil.rmtree(out)


_SCRATCH = set()  # the temporary folders `for_this_worker` has handed out


@contextlib.contextmanager
def for_this_worker(out, chief, resume=False):
    """The folder this worker writes into: `out` on the chief, else a temporary
    copy of the chief's resume state, deleted afterwards (nested calls share it)."""
    out = pathlib.Path(out)
    if chief or out in _SCRATCH:
        yield out
        return
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="keras_flows_worker_"))
    if resume and (out / "resume").is_dir():  # a file system the workers share
        shutil.copytree(out / "resume", scratch / "resume")
    _SCRATCH.add(scratch)
    try:
        yield scratch
    finally:
        _SCRATCH.discard(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
