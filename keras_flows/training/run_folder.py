"""The run folder's files, written so that a kill at any instant loses at most
the epoch in progress.

Every file is written to a temporary name in the same folder and renamed over
the old one (`write_atomic`): a reader sees the old file or the new one, never
half of one. The resume state of epoch `n` is `resume/epoch_n.weights.h5`
(weights and optimizer state) and `resume/state.json` (`{"epoch": n,
"weights": "epoch_n.weights.h5", "history": [...]}`), written in that order:
`state.json` is the commit point, and it names the one weights file it goes
with, so a kill between the two leaves the previous epoch's state intact.
`history.csv` and `history.json` are rewritten from that history at every epoch,
so the history always has one row per epoch the weights have seen
(`callbacks.ResumeState` writes them).

No Keras import here: the command line reads and writes these files before
Keras starts.
"""

import csv
import io
import json
import os
import pathlib

STATE = "state.json"


def write_atomic(path, write):
    """`write(tmp)` on a temporary path beside `path`, then renames it onto
    `path` (`os.replace`, atomic on one file system). The temporary name keeps
    the file's suffixes (Keras checks that weights end in `.weights.h5`)."""
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


def read_state(resume_dir):
    """The committed resume state of `resume_dir` (a dict), or `None` if there is
    none. Raises `ValueError` with a one-line reason if it cannot be used."""
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
    """`history.csv` and `history.json` from a list of per-epoch log dicts."""
    keys = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, ["epoch", *keys], restval="NA")
    writer.writeheader()
    for epoch, row in enumerate(history):
        writer.writerow({"epoch": epoch, **row})
    write_atomic(out / "history.csv", lambda tmp: tmp.write_text(text.getvalue()))
    columns = {k: [row.get(k) for row in history] for k in keys}
    write_json(out / "history.json", columns)
