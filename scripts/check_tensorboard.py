"""Read a TensorBoard event file (or a directory of them) with tensorboard's own reader.

Prints JSON {tag: [[step, value], ...]} for every scalar, read by EventAccumulator
with no sampling (size_guidance scalars=0 keeps all).
EventAccumulator silently stops at a corrupt or truncated record, so each file is
first walked strictly with tensorboard's record reader (length/data CRC32C checks)
and every record parsed as an Event proto; the first must carry file_version.
Exits 1 with a message on stderr on any such failure or when there are no scalars.
tensorboard only treats files whose name contains "tfevents" as event files, so a
file named otherwise (e.g. the fixture tensorboard.events) is read through a
temporary events.out.tfevents.* symlink; a directory is scanned for *tfevents* files.

Usage:
    ~/.cache/apus-peers/torch/bin/python scripts/check_tensorboard.py PATH_OR_DIR
"""
import json
import os
import sys
import tempfile


def fail(msg):
    sys.exit(f"check_tensorboard: {msg}")


def strict_walk(path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    reader = pywrap_tensorflow.PyRecordReader_New(path)
    n = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            break
        except errors.DataLossError as e:
            fail(f"{path}: record {n}: {e.message}")
        try:
            event = event_pb2.Event.FromString(reader.record())
        except Exception as e:
            fail(f"{path}: record {n}: not an Event proto: {e}")
        if n == 0 and not event.file_version.startswith("brain.Event:"):
            fail(f"{path}: first record has no file_version (got {event.file_version!r})")
        n += 1
    if n == 0:
        fail(f"{path}: no records")


def main(path):
    from tensorboard.backend.event_processing import event_accumulator as ea

    if os.path.isdir(path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if "tfevents" in f)
        if not files:
            fail(f"{path}: no *tfevents* files in directory")
        target = path
    elif os.path.isfile(path):
        files, target = [path], path
        if "tfevents" not in os.path.basename(path):
            tmp = tempfile.TemporaryDirectory()  # removed at exit
            target = os.path.join(tmp.name, "events.out.tfevents.0.check")
            os.symlink(os.path.abspath(path), target)
    else:
        fail(f"{path}: no such file or directory")
    for f in files:
        strict_walk(f)
    try:
        acc = ea.EventAccumulator(target, size_guidance={ea.SCALARS: 0})
        acc.Reload()
        out = {t: [[s.step, s.value] for s in acc.Scalars(t)] for t in acc.Tags()[ea.SCALARS]}
    except Exception as e:
        fail(f"{path}: failed to parse: {type(e).__name__}: {e}")
    if not out:
        fail(f"{path}: no scalars found")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_tensorboard.py PATH_OR_DIR")
    main(sys.argv[1])
