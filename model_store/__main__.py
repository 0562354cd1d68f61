"""Command line of the model store.

python -m model_store list
python -m model_store predict [--model NAME] [--json] [--number] FILE...
python -m model_store evaluate [--model NAME] [--json]
python -m model_store explain [--model NAME] [--neighbours K] [--json] FILE...
python -m model_store map [--model NAME]
python -m model_store drawings list | export FILE.npz [--by NAME] | import FILE.npz [--by NAME]   [--class NAME]
python -m model_store backup DIR
python -m model_store restore DIR
python -m model_store teachers list | add NAME [--email E] | remove NAME | password NAME | disable NAME | enable NAME | email NAME --email E
python -m model_store classes list | create NAME [--teacher T]   [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from PIL import Image

from model_store import ImageError, ModelStore, StoreError, decode_image, prepare
from model_store.backend import VERBOSE
from model_store.database import DatabaseError


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows)


def cmd_list(store: ModelStore, args: argparse.Namespace) -> int:
    models = store.list()
    if not models:
        print(f"no models in {store.where}; train one with `python -m training`")
        return 0
    default = store.default().name if any(not m.broken for m in models) else None
    rows = [["", "NAME", "ARCHITECTURE", "TEST ACC", "PARAMS", "TRAIN S", "CREATED", "NOTE"]]
    for m in models:
        r = m.record
        acc = r.get("metrics", {}).get("test_accuracy")
        rows.append(
            [
                "*" if m.name == default else "",
                m.name,
                r.get("architecture", "?"),
                f"{acc:.2%}" if acc is not None else "-",
                f"{r['parameters']:,}" if "parameters" in r else "-",
                f"{r['training_seconds']:.0f}" if "training_seconds" in r else "-",
                r.get("created", "-")[:16],
                f"BROKEN: {m.error}" if m.broken else ("bundled" if m.bundled else ""),
            ]
        )
    print(_table(rows))
    print("\n* the default model")
    return 0


def _load_predictor(store: ModelStore, name: str | None, calibrated: bool = True):
    """The model as a Predictor (its confidences calibrated, when it has a calibration and
    `calibrated`) and its entry. TensorFlow is loaded here, not for `list`."""
    model, entry = store.load(name)  # a wrong name is answered before TensorFlow loads
    from model_store import Predictor

    return Predictor(model, entry.normalization, entry.temperature if calibrated else 1.0), entry


def _images(args: argparse.Namespace, failed: list[str]):
    """Each file decoded, in order, with its own size over the decoded one's (a large image is
    read shrunk); a file that cannot be read is reported (as JSON with --json), added to `failed`
    and skipped: the rest go on."""
    for path in args.files:
        try:
            data = Path(path).read_bytes()
            image = decode_image(data)
        except (OSError, ImageError) as err:  # one bad file is reported, the rest go on
            failed.append(path)
            message = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            print(json.dumps({"path": path, "error": message}) if args.json else f"{path}: error: {message}")
            continue
        yield path, image, max(Image.open(io.BytesIO(data)).size) / max(image.shape[:2])


def _readings(predictor, args: argparse.Namespace, failed: list[str]):
    """Each readable file's prediction, in order, blank ones included (see `_images`)."""
    for path, image, _ in _images(args, failed):
        yield path, predictor.predict_prepared([prepare(image)])[0]


def _blank(path: str, result, args: argparse.Namespace, failed: list[str]) -> bool:
    """A file with nothing to read is said so (a "blank" verdict with --json) and counted as failed."""
    if not result.blank:
        return False
    failed.append(path)
    if args.json:
        print(
            json.dumps(
                {
                    "path": path,
                    "digit": None,
                    "confidence": 0.0,
                    "probabilities": None,
                    "not_a_digit": None,
                    "verdict": "blank",
                    "reason": result.blank_reason,
                }
            )
        )
    else:
        print(f"{path}: error: nothing to read: {result.blank_reason}")
    return True


def cmd_predict(store: ModelStore, args: argparse.Namespace) -> int:
    """Each file's digit, confidence (calibrated when the model has a calibration) and verdict."""
    predictor, entry = _load_predictor(store, args.model)
    failed: list[str] = []
    if args.number:
        return _predict_numbers(predictor, entry, args, failed)
    for path, result in _readings(predictor, args, failed):
        if _blank(path, result, args, failed):
            continue
        verdict = result.verdict(entry.unsure_below)
        if args.json:
            probs = [round(float(p), 6) for p in result.probabilities]
            line = {"path": path, "digit": result.digit, "confidence": round(result.confidence, 6), "probabilities": probs}
            print(json.dumps(line | {"not_a_digit": round(result.not_digit, 6), "verdict": verdict}))
        elif verdict == "not_a_digit":
            print(f"{path}: not a digit ({result.not_digit:.1%}; were it one, a {result.digit})")
        else:
            print(f"{path}: {result.digit} ({result.confidence:.1%})" + (", not sure" if verdict == "unsure" else ""))
    return 1 if failed else 0


def _predict_numbers(predictor, entry, args: argparse.Namespace, failed: list[str]) -> int:
    """Each file read as a written number: its digits, each with its box in the file's pixels."""
    from model_store.numbers import read_number

    for path, image, scale in _images(args, failed):
        reading = read_number(predictor, image, entry.unsure_below)
        if not reading.digits:
            failed.append(path)
            if args.json:
                print(
                    json.dumps({"path": path, "number": None, "digits": [], "verdict": "blank", "reason": reading.blank_reason})
                )
            else:
                print(f"{path}: error: nothing to read: {reading.blank_reason}")
            continue
        if args.json:
            digits = [_number_part(d, scale) for d in reading.digits]
            print(json.dumps({"path": path, "number": reading.number, "digits": digits, "verdict": reading.verdict}))
        else:
            print(f"{path}: {_number_line(reading)}")
    return 1 if failed else 0


def _number_part(digit, scale: float) -> dict:
    r = digit.reading
    part = {"digit": r.digit, "confidence": round(r.confidence, 6), "box": [round(v * scale) for v in digit.box]}
    part |= {"not_a_digit": round(r.not_digit, 6), "verdict": digit.verdict}
    return part | ({"reason": r.blank_reason} if r.blank else {})


def _number_line(reading) -> str:
    """ "2026 (2 98.1%, 0 99.0%, 2 97.5%, 6 99.9%)", or what is wrong with which part."""
    shown = []
    for d in reading.digits:
        r = d.reading
        if d.verdict == "blank":
            shown.append(f"nothing to read: {r.blank_reason}")
        elif d.verdict == "not_a_digit":
            shown.append(f"not a digit {r.not_digit:.1%}")
        else:
            shown.append(f"{r.digit} {r.confidence:.1%}" + (" not sure" if d.verdict == "unsure" else ""))
    parts = ", ".join(shown)
    if reading.number is None:
        at = next(i for i, d in enumerate(reading.digits) if d.verdict in ("blank", "not_a_digit"))
        problem = "is not a digit" if reading.digits[at].verdict == "not_a_digit" else "can't be read"
        return f"not a number: part {at + 1} of {len(reading.digits)} {problem} ({parts})"
    return f"{reading.number}{', not sure' if reading.verdict == 'unsure' else ''} ({parts})"


def cmd_explain(store: ModelStore, args: argparse.Namespace) -> int:
    """Each file's reading and the MNIST training images nearest to it in the model's features."""
    explainer, entry = _explainer(store, args.model)
    predictor, digit_map = explainer.predictor, _map(explainer, entry.name)
    failed: list[str] = []
    for path, result in _readings(predictor, args, failed):
        if _blank(path, result, args, failed):
            continue
        features = explainer.features(result.prepared[None])  # once, for both
        near = explainer.neighbours(features[0], args.neighbours)
        place = [round(float(v), 3) for v in digit_map.place(features)[0]]
        if args.json:
            neighbours = [{"index": n.index, "label": n.label, "distance": round(n.distance, 4)} for n in near]
            line = {"path": path, "digit": result.digit, "confidence": round(result.confidence, 6), "neighbours": neighbours}
            print(json.dumps(line | {"map": place}))
        else:
            shown = ", ".join(f"#{n.index} a {n.label} at {n.distance:.2f}" for n in near)
            print(f"{path}: {result.digit} ({result.confidence:.1%}); nearest training images: {shown}; on the map at {place}")
    return 1 if failed else 0


def _explainer(store: ModelStore, name: str | None):
    from model_store.explain import stored_explainer

    predictor, entry = _load_predictor(store, name)
    return stored_explainer(predictor, entry, store), entry


def _map(explainer, name: str):
    """The model's map, built first if it has none (said on stderr: --json's lines stay clean)."""
    digit_map = explainer.digit_map()
    if digit_map is None:
        print(f"building {name}'s map of MNIST's test images (once per model, about half a minute)", file=sys.stderr)
        digit_map = explainer.digit_map(build=True)
        print(explainer.keep_note or f"{name}'s map is kept beside it in the store", file=sys.stderr)
    return digit_map


def cmd_map(store: ModelStore, args: argparse.Namespace) -> int:
    """Build a model's map ahead of a lesson (the app builds it at first use otherwise)."""
    explainer, entry = _explainer(store, args.model)
    _map(explainer, entry.name)
    return 0


def cmd_evaluate(store: ModelStore, args: argparse.Namespace) -> int:
    from model_store.evaluation import evaluate

    predictor, entry = _load_predictor(store, args.model, calibrated=False)  # the model's own loss
    name = entry.name
    ev = evaluate(predictor)
    if args.json:
        print(json.dumps({"model": name, "loss": ev.loss, "accuracy": ev.accuracy, "per_class_accuracy": ev.per_class_accuracy}))
        return 0
    print(f"model {name}: test loss {ev.loss:.4f}, test accuracy {ev.accuracy:.2%}")
    for digit, acc in enumerate(ev.per_class_accuracy):
        print(f"  digit {digit}: {acc:.2%}")
    return 0


def cmd_drawings(store: ModelStore, args: argparse.Namespace) -> int:
    """The class drawings: counts, or the prepared images to and from an .npz file."""
    from model_store.database import DatabaseError
    from model_store.drawings import Drawings
    from model_store.roles import TERMINAL

    try:
        drawings = Drawings(args.db, _class_id(args))
        by = replace(TERMINAL, class_id=drawings.class_id)
        if args.action == "list":
            return _list_drawings(drawings)
        if args.action == "export":
            n = drawings.export_npz(Path(args.file), args.by)
            print(f"exported {n} drawings to {args.file}: x uint8 ({n}, 28, 28), y uint8 ({n},)")
            return 0
        n = drawings.import_npz(Path(args.file), args.by or "import", by)
        print(f"imported {n} drawings from {args.file} as {args.by or 'import'}; the class has {drawings.count()}")
        return 0
    except (DatabaseError, ValueError, OSError) as err:  # ClassError is a ValueError too
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        print(f"error: {args.file + ': ' if args.action != 'list' and args.file else ''}{reason}", file=sys.stderr)
        return 2


def _class_id(args: argparse.Namespace) -> str:
    """The class `--class NAME` names (ClassError when none is called so); the install's own without it."""
    from model_store.classes import Classes
    from model_store.database import MAIN, Database

    return Classes(Database(args.db)).named(args.klass).id if args.klass else MAIN


def cmd_classes(store: ModelStore, args: argparse.Namespace) -> int:
    """The school's classes (`model_store.classes`): list them, or make one with its join code."""
    from model_store.classes import ClassError, Classes
    from model_store.database import Database
    from model_store.names import NameRefused
    from model_store.roles import TERMINAL

    classes = Classes(Database(args.db))
    try:
        if args.action == "create":
            made = [classes.create(args.name, TERMINAL, teacher=_teacher_named(args))]
        else:
            made = classes.all()
    except (ClassError, NameRefused, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        for c in made:
            print(json.dumps({"class": c.name, "code": c.code} | ({"teacher": c.teacher} if args.action == "list" else {})))
        return 0
    rows = [["CLASS", "CODE", "TEACHER", "GUESTS"]]
    rows += [[c.name, c.code, c.teacher or "(every teacher)", "yes" if c.guests else "no"] for c in made]
    print(_table(rows))
    return 0


def _teacher_named(args: argparse.Namespace) -> str | None:
    """`--teacher T`, checked: an account of the school (NoSuchTeacher, a KeyError, otherwise)."""
    from model_store.accounts import Accounts, NoSuchTeacher
    from model_store.database import Database

    if args.teacher is None:
        return None
    known = {a.name for a in Accounts(Database(args.db)).list()}
    if args.teacher not in known:
        raise NoSuchTeacher(args.teacher)
    return args.teacher


def _list_drawings(drawings) -> int:
    counts = drawings.counts()
    if not counts:
        print(f"no class drawings yet in the class database {drawings.db.where}")
        return 0
    table: dict[str, list[int]] = {}
    for writer, label, n in counts:
        table.setdefault(writer, [0] * 10)[label] = n
    totals = [sum(row[d] for row in table.values()) for d in range(10)]
    rows = [["WRITER", *map(str, range(10)), "ALL"]]
    rows += [[w, *map(str, row), str(sum(row))] for w, row in table.items()]
    rows.append(["all", *map(str, totals), str(sum(totals))])
    print(_table(rows))
    return 0


def cmd_backup(store: ModelStore, args: argparse.Namespace) -> int:
    """The lesson (drawings, names, models, runs' records) into a new folder, or back from one."""
    from model_store import lesson
    from model_store.database import Database, DatabaseError
    from model_store.roles import TERMINAL

    try:
        by = replace(TERMINAL, class_id=_class_id(args))
        if args.command == "backup":
            held = lesson.backup(Path(args.dir), by, Database(args.db))
        else:
            held = lesson.restore(Path(args.dir), by, Database(args.db), store)
    except (DatabaseError, ValueError, OSError) as err:  # BadBackup is a ValueError
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        print(f"error: {args.dir}: {reason}", file=sys.stderr)
        return 2
    done = "backed up into" if args.command == "backup" else "restored from"
    print(f"{done} {args.dir}: {held['drawings']} drawings, {held['models']} models, {held['runs']} runs (made {held['made']})")
    return 0


def cmd_teachers(store: ModelStore, args: argparse.Namespace) -> int:
    """The school's teacher accounts (`model_store.accounts`); a password from a prompt, or stdin."""
    from model_store.accounts import Accounts, NoSuchTeacher
    from model_store.database import Database
    from model_store.names import NameRefused

    accounts = Accounts(Database(args.db))
    try:
        if args.action == "list":
            return _list_teachers(accounts)
        if args.action == "add":
            if args.email:  # checked first: a refused address leaves no account half made
                accounts.check_email_free(args.email)
            name = accounts.add(args.name, _new_password())
            if args.email:
                accounts.set_email(name, args.email)
            print(
                f"added teacher {name}" + (f", who may also sign in with the school account {args.email}" if args.email else "")
            )
        elif args.action == "email":
            accounts.set_email(args.name, args.email or "")
            print(
                f"{args.name} signs in with the school account {args.email}"
                if args.email
                else f"{args.name} has no school account now"
            )
        elif args.action == "password":
            accounts.set_password(args.name, _new_password())
            print(f"changed the password of {args.name}; their sign-ins ended")
        elif args.action == "remove":
            accounts.remove(args.name)
            print(f"removed teacher {args.name}; their sign-ins ended")
        else:
            accounts.set_disabled(args.name, args.action == "disable")
            print(f"{args.action}d teacher {args.name}" + ("; their sign-ins ended" if args.action == "disable" else ""))
        return 0
    except (NameRefused, NoSuchTeacher, ValueError) as err:  # NameRefused is a ValueError too
        print(f"error: {err}", file=sys.stderr)
        return 2


def _new_password() -> str:
    """Typed twice at a prompt (never echoed); one line of stdin when it is not a terminal (a script)."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("The same again: ") != password:
        raise ValueError("the two passwords differ; nothing changed")
    return password


def _list_teachers(accounts) -> int:
    teachers = accounts.list()
    if not teachers:
        print(f"no teacher accounts in the class database {accounts.db.where}; add one with `teachers add NAME`")
        return 0
    rows = [["NAME", "CREATED", "NOTE"]]
    first = next((t.name for t in teachers if not t.disabled), None)  # the one the install's password signs in
    rows += [[t.name, t.created[:16], "disabled" if t.disabled else ("first" if t.name == first else "")] for t in teachers]
    print(_table(rows))
    return 0


def cmd_migrate(store: ModelStore, args: argparse.Namespace) -> int:
    """An earlier release's data folder into the configured class database, each kind counted."""
    from model_store.database import Database, DatabaseError
    from model_store.files import data_root, runs_root
    from model_store.migrate import migrate

    data = Path(args.data) if args.data else data_root()
    models = Path(args.models) if args.models else store.root
    target = Database()
    try:
        report = migrate(data, target, args.dry_run, models, Path(args.runs) if args.runs else runs_root())
    except DatabaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{'dry run: ' if args.dry_run else ''}{data} into the class database {target.where}")
    print("\n".join(report.lines(args.dry_run)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m model_store", description=__doc__.split("\n")[0])
    store_help = "this machine's models folder, its cache of the class database's (default: $MNIST_LAB_MODELS or models/)"
    parser.add_argument("--store", help=f"{store_help}; model_store/bundled: the bundled model's own files")
    parser.add_argument("--verbose", action="store_true", help=f"show TensorFlow's own start-up logs (or set {VERBOSE}=1)")
    sub = parser.add_subparsers(dest="command", required=True)
    db_help = "the class database, a URL or an SQLite file (default: $MNIST_LAB_DATABASE, else data/drawings.sqlite3)"
    sub.add_parser("list", help="the stored models as a table")
    p = sub.add_parser("predict", help="read the digit in each image file")
    p.add_argument("--model", help="a stored model's name (default: the default model)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--number", action="store_true", help="read each image as a written number of any length")
    p.add_argument("files", nargs="+", metavar="FILE")
    e = sub.add_parser("evaluate", help="test loss, accuracy and per-class accuracy on MNIST")
    e.add_argument("--model", help="a stored model's name (default: the default model)")
    e.add_argument("--json", action="store_true", help="one JSON object")
    x = sub.add_parser("explain", help="read each image and name the training images nearest to it, as the model sees them")
    x.add_argument("--model", help="a stored model's name (default: the default model)")
    x.add_argument("--neighbours", type=int, default=8, metavar="K", help="how many training images (default 8)")
    x.add_argument("--json", action="store_true", help="one JSON object per line")
    x.add_argument("files", nargs="+", metavar="FILE")
    m = sub.add_parser("map", help="make a model's map of the digits now (the app makes it at first use otherwise)")
    m.add_argument("--model", help="a stored model's name (default: the default model)")
    d = sub.add_parser("drawings", help="the class drawings: counts per digit and person, export, import")
    d.add_argument("action", choices=["list", "export", "import"], help="list: counts; export/import: FILE.npz")
    d.add_argument("file", nargs="?", metavar="FILE.npz", help="x: uint8 images (n, h, w); y: labels 0-9 (n,)")
    d.add_argument("--by", help="export: only this person's drawings; import: the name they are saved under")
    d.add_argument("--db", help=db_help)
    class_help = "the class (default: the install's own, main); `classes list` names them"
    d.add_argument("--class", dest="klass", metavar="NAME", help=class_help)
    for name, what in (("backup", "back the lesson up into the new folder DIR"), ("restore", "put a backup back")):
        b = sub.add_parser(name, help=what)
        b.add_argument("dir", metavar="DIR")
        b.add_argument("--db", help=db_help)
        b.add_argument("--class", dest="klass", metavar="NAME", help=class_help)
    c = sub.add_parser("classes", help="the school's classes: list them, or create one and print its join code")
    c.add_argument("action", choices=["list", "create"])
    c.add_argument("name", nargs="?", metavar="NAME", help="the new class's name (create)")
    c.add_argument("--teacher", metavar="T", help="the teacher account it belongs to (default: every teacher's)")
    c.add_argument("--json", action="store_true", help='one JSON object a class: {"class": NAME, "code": CODE}')
    c.add_argument("--db", help=db_help)
    t = sub.add_parser("teachers", help="the school's teacher accounts: list, add, remove, a new password")
    t.add_argument("action", choices=["list", "add", "remove", "password", "disable", "enable", "email"])
    t.add_argument("name", nargs="?", metavar="NAME", help="the teacher's name (all but list)")
    t.add_argument("--email", help="add, email: the school account (single sign-on) that signs them in too")
    t.add_argument("--db", help=db_help)
    g = sub.add_parser("migrate", help="bring a data folder of an earlier release into the configured class database")
    g.add_argument("--data", help="the data folder (default: $MNIST_LAB_DATA or data/)")
    g.add_argument("--models", help="the models folder (default: --store, $MNIST_LAB_MODELS or models/)")
    g.add_argument("--runs", help="the runs folder (default: $MNIST_LAB_RUNS or runs/)")
    g.add_argument("--dry-run", action="store_true", help="report what it would add, add nothing (models: not counted)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "drawings" and args.action != "list" and not args.file:
        parser.error(f"drawings {args.action} needs a FILE.npz")
    if args.command in ("teachers", "classes") and args.action != "list" and not args.name:
        parser.error(f"{args.command} {args.action} needs a NAME")
    if args.command == "explain" and not 1 <= args.neighbours <= 100:
        parser.error(f"--neighbours must be from 1 to 100 (got {args.neighbours})")
    if args.verbose:
        os.environ[VERBOSE] = "1"
    store = ModelStore(args.store)
    commands = {"list": cmd_list, "predict": cmd_predict, "evaluate": cmd_evaluate, "explain": cmd_explain, "map": cmd_map}
    commands |= {"drawings": cmd_drawings, "migrate": cmd_migrate, "teachers": cmd_teachers, "classes": cmd_classes}
    command = commands.get(args.command, cmd_backup)
    try:
        return command(store, args)
    except (StoreError, DatabaseError) as err:  # the models are in the class database: it may not answer
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
