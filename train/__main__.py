"""Command-line entry point: ``python -m train STEP [options]``.

Steps: report (data report), fit (one model), compare (all seven), export (the winner),
prune (complex_cnn_1 cut to half width), adjust-prior (the training split's class shares divided
out of a model's scores), recalibrate (batch-norm statistics of the plain
training faces), quantize (int8 TFLite + metadata for the function), score (a float network on
FER2013 validation and the real photographs, without quantizing it), card (the model card).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of progress output

from .config import DEFAULT_CLASSES, DEFAULT_DATA_DIR, PREPROCESSING, SEED  # noqa: E402
from .data import DatasetError, parse_classes  # noqa: E402

REPORTS_DIR = Path("reports")
RUNS_DIR = Path("runs")
TTA_RECIPES = ("none", "mirror", "mirror-zoom", "mirror-zoom-in-out")  # function/emotion/views.py's recipes


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                   help="class-folder dataset root holding train/ and validation/ (default: %(default)s)")
    p.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                   help="comma-separated FER2013 emotions to use (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None,
                   help="read at most this many images per class and split (quick runs, tests)")
    p.add_argument("--preprocessing", default=",".join(PREPROCESSING),
                   help="comma-separated steps every face goes through before the model sees it, in training, "
                        "evaluation, quantization and the function (recorded in the model's metadata); "
                        "'equalize_hist' is OpenCV's histogram equalization, which FER2013's files already had; "
                        "'none' for no step (default: %(default)s)")


def _fit_flags(p: argparse.ArgumentParser, **defaults) -> None:
    """The training flags; ``defaults`` replaces some of their defaults (the comparison's recipe)."""
    p.add_argument("--epochs", type=int, default=60, help="maximum epochs (default: %(default)s; None: each model's own, train/zoo.py)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s, as in the study)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate, the peak of a schedule (default: %(default)s; None: each model's own, "
                        "train/zoo.py)")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing (default: %(default)s)")
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--patience", type=int, default=10,
                   help="epochs without val-loss improvement before early stopping (default: %(default)s)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="time budget per model, in minutes; except with --schedule budget, training also stops "
                        "after the last epoch that fits (by the longest so far), so --resume goes on from there")
    p.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --runs")
    p.add_argument("--schedule", choices=("plateau", "cosine", "budget", "constant"), default="plateau",
                   help="learning rate: 'plateau' halves it when val loss stalls; 'cosine' warms up for one "
                        "epoch, then decays to zero at --epochs; 'budget' is the same cosine over the "
                        "--max-minutes time budget, for runs whose epoch speed is not known in advance "
                        "(set --epochs high); 'constant' keeps --learning-rate throughout, as weight "
                        "averaging wants (default: %(default)s)")
    p.add_argument("--average-from", type=int, default=0, metavar="EPOCH",
                   help="stochastic weight averaging: keep the mean of the weights at the end of every epoch from "
                        "this one (counted from 1) on, recompute batch normalization's statistics for it over "
                        "the training images, and save it as average.keras; the run reports (and export takes) "
                        "the average or the best epoch, whichever has the higher validation accuracy. The "
                        "average restarts with --resume. 0 turns it off (default: %(default)s)")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="blend each training image and its one-hot label with another's, weights drawn from "
                        "Beta(ALPHA, ALPHA) (mixup; 0.2 is a usual value); 0 turns it off (default: %(default)s)")
    p.add_argument("--augmentation", choices=("keras", "matrix"), default="keras",
                   help="training-time augmentation (the same transformations either way): 'keras' uses Keras's "
                        "preprocessing layers; 'matrix' does them as matrix products without per-pixel gathers, "
                        "which Keras's layers need and which are slow under JAX on a GPU (default: %(default)s)")
    p.add_argument("--init-from", default=None,
                   help="start from the weights of this trained .keras model of the same architecture "
                        "(e.g. runs/c4/complex_cnn_1/best.keras) instead of random initialization; layers whose "
                        "shapes differ (the output layer, for another number of classes) start at random, "
                        "except that a model trained on more classes (its summary.json or export JSON says "
                        "which) passes on its output weights for the classes both share")
    p.add_argument("--distill-from", default=None, metavar="MODEL",
                   help="knowledge distillation: blend every training label with this trained model's "
                        "probabilities for the image (a teacher .keras model, e.g. models/complex_cnn_1-4class.keras; "
                        "trained on these classes or more), computed once before training (default: off)")
    p.add_argument("--distill-tta", choices=TTA_RECIPES,
                   default="mirror-zoom",
                   help="test-time views the teacher's probabilities are averaged over, as in the quantize "
                        "step (default: %(default)s)")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="the teacher's share of each training target, the one-hot label having the rest "
                        "(default: %(default)s)")
    p.add_argument("--distill-temperature", type=float, default=2.0,
                   help="soften the teacher's probabilities p to p ** (1 / T), renormalized; 1 keeps them "
                        "(default: %(default)s)")
    p.add_argument("--photo", type=float, nargs="?", const=1.0, default=0.0, metavar="SHARE",
                   help="photographic augmentation before the model's own, for this share of the training "
                        "images (1 when given alone): exposure, gamma and contrast, sharpening and blur, lower "
                        "resolution, JPEG quality, noise, shear and aspect (train/photo.py), each face "
                        "preprocessed again afterwards; 0 turns it off (default: %(default)s)")
    p.add_argument("--photo-stretch", type=float, default=0.0, metavar="SHARE",
                   help="with --photo: the share of those images also made wider or narrower, width over "
                        "height changed by up to 1.35x either way, as photos resized to another shape look "
                        "(train/photo.py); 0 turns it off (default: %(default)s)")
    p.add_argument("--ferplus", choices=("off", "soft", "drop", "majority"), default="off",
                   help="FER+'s ten votes per image (ferplus.csv in --data): 'soft' trains on the share of votes "
                        "for each class; 'drop' leaves out images whose FER+ majority names another emotion; "
                        "'majority' trains on the faces of every folder under their FER+ majority, where that is "
                        "one of --classes (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1,
                   help="with --photo: processes that augment batches ahead of training (a GPU trains far faster "
                        "than one core augments); the batches are the same whatever the number "
                        "(default: %(default)s: in the training process)")
    p.add_argument("--no-imagenet", action="store_true",
                   help="do not try to download ImageNet weights for the transfer models")
    p.add_argument("--runs", type=Path, default=RUNS_DIR,
                   help="checkpoint and log folder, never committed (default: %(default)s)")
    p.set_defaults(**defaults)


# The comparison trains every model alike (equalized faces, the study's augmentation and
# photographic augmentation for half the faces, as the shipped model's fine-tune saw them), each
# for its own number of epochs at its own peak rate (train/zoo.py's recipes) unless --epochs or
# --learning-rate says otherwise. Not FER+ drop: validation keeps FER2013's labels, and training
# without the images FER+ reads differently cost cnn_model_1 a point there (docs/training.md).
# ImageNet weights cannot be downloaded here: the transfer models train from scratch.
COMPARISON_RECIPE = dict(epochs=None, learning_rate=None, schedule="cosine", batch_size=64, patience=1000,
                         photo=0.5, ferplus="off", no_imagenet=True)


def _fit_config(args, model: str):
    from .training import FitConfig
    from .zoo import ZOO
    return FitConfig(model=model, epochs=args.epochs or ZOO[model].epochs, batch_size=args.batch_size,
                     learning_rate=args.learning_rate or ZOO[model].learning_rate,
                     label_smoothing=args.label_smoothing,
                     class_weights=args.class_weights, patience=args.patience,
                     max_minutes=args.max_minutes, seed=args.seed, resume=args.resume,
                     imagenet=not args.no_imagenet, schedule=args.schedule, init_from=args.init_from,
                     mixup=args.mixup, augmentation=args.augmentation,
                     average_from=args.average_from, distill_from=args.distill_from,
                     distill_tta=args.distill_tta, distill_weight=args.distill_weight,
                     distill_temperature=args.distill_temperature, photo=args.photo, photo_stretch=args.photo_stretch,
                     ferplus=args.ferplus, workers=args.workers)


def _load(args, splits=("train", "validation")):
    from .data import load_split, parse_preprocessing
    classes = parse_classes(args.classes)
    steps = parse_preprocessing(args.preprocessing)
    print(f"loading {', '.join(splits)} from {args.data} for {', '.join(classes)}"
          + (f", preprocessed with {', '.join(steps)}" if steps else ""))
    return classes, [_training_split(args, classes, steps) if s == "train" and getattr(args, "ferplus", "") == "majority"
                     else load_split(args.data, s, classes, args.limit, steps) for s in splits]


def _training_split(args, classes, steps):
    """The training faces of every folder, labelled by FER+'s majority (--ferplus majority)."""
    from .config import EMOTIONS
    from .data import load_split
    from .ferplus import majority_split
    split, stats = majority_split(load_split(args.data, "train", EMOTIONS, args.limit, steps), args.data, classes)
    print(f"FER+ majority: {stats['kept']} of the {stats['images']} training faces of every folder are one of "
          f"{', '.join(classes)} by their majority ({stats['recruited']} from other folders, "
          f"{stats['relabelled']} moved between these): {split.counts()}")
    return split


def cmd_report(args) -> None:
    from .report import data_report
    classes, (train, val) = _load(args)
    data_report({"train": train, "validation": val}, args.out)


def cmd_fit(args) -> None:
    from .training import fit
    _, (train, val) = _load(args)
    fit(_fit_config(args, args.model), train, val, args.runs)


def cmd_compare(args) -> None:
    from .compare import compare
    from .zoo import STUDY
    models = args.models.split(",") if args.models else STUDY
    _, (train, val) = _load(args)
    compare([_fit_config(args, m) for m in models], train, val, args.runs, args.out, args.reuse,
            tuple(args.reuse_runs or ()), real=None if args.no_real else args.real, real_views=args.real_views,
            shipped=args.shipped)


def cmd_export(args) -> None:
    from .compare import export_winner
    export_winner(args.runs, args.out, args.model, args.comparison,
                  parse_classes(args.classes) if args.classes else None, args.checkpoint)


def cmd_recalibrate(args) -> None:
    from .quantize import _views
    from .recalibrate import recalibrate_export
    _, (train, val) = _load(args)
    recalibrate_export(args.model, train, val, _views(args.views), args.out or args.model, args.sample)


def cmd_quantize(args) -> None:
    from .quantize import quantize_and_ship
    classes, (train, val) = _load(args)
    quantize_and_ship(args.model, train, val, args.out, args.reports, args.name,
                      args.representative, args.version, "mirror" if args.mirror else args.tta)


def cmd_score(args) -> None:
    import json

    import keras
    from .quantize import float_probs
    from .realfaces import detected_faces, real_photo_scores
    classes, (val,) = _load(args, splits=("validation",))
    model = keras.models.load_model(args.model)
    probs = float_probs(model, val.images.astype("float32"), args.views)
    result = {"model": str(args.model), "views": args.views,
              "validation_accuracy": round(float((probs.argmax(1) == val.labels).mean()), 4)}
    if not args.no_real:
        faces = detected_faces(args.real, args.cache)
        real = real_photo_scores(model, faces, classes, val.preprocessing, args.views)
        result["real_accuracy"] = {name: round(r["accuracy"], 3) for name, r in real.items()}
    print(json.dumps(result, indent=2))


def cmd_blend(args) -> None:
    from .blend import blend
    blend(args.model, args.other, args.weight, args.out, args.other_head)


def cmd_adjust_prior(args) -> None:
    from .prior import adjust_prior
    adjust_prior(args.model, args.data, args.tau, args.out or args.model)


def cmd_prune(args) -> None:
    from .prune import prune_file
    print(f"{args.model} cut to half width: {prune_file(args.model, args.out)}")


def cmd_compact(args) -> None:
    import keras
    from .training import save_compact
    before = args.model.stat().st_size
    save_compact(keras.models.load_model(args.model), args.out or args.model)
    print(f"{args.model}: {before / 2**20:.1f} MB -> {(args.out or args.model).stat().st_size / 2**20:.1f} MB")


def cmd_requalify(args) -> None:
    from .requalify import requalify
    _, (val,) = _load(args, splits=("validation",))
    requalify(args.models, args.name, val, args.version)


def cmd_card(args) -> None:
    from .card import write_card
    write_card(args.models, args.reports, args.out)


def main(argv: list[str] | None = None) -> int:
    from .zoo import ZOO
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True, metavar="STEP")

    p = steps.add_parser("report", help="data report: counts, imbalance, samples, mean faces, duplicates")
    _common(p)
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "data",
                   help="folder for report.md, report.json and PNGs (default: %(default)s)")
    p.set_defaults(func=cmd_report)

    p = steps.add_parser("fit", help="train one zoo model")
    _common(p)
    _fit_flags(p)
    p.add_argument("--model", choices=list(ZOO), default="complex_cnn_1", help="zoo model (default: %(default)s)")
    p.set_defaults(func=cmd_fit)

    p = steps.add_parser("compare", help="train the zoo models alike and write the comparison table")
    _common(p)
    _fit_flags(p, **COMPARISON_RECIPE)
    p.add_argument("--models", default=None, help="comma-separated subset of the zoo (default: all seven)")
    p.add_argument("--reuse", action="store_true",
                   help="take models that already have a finished run in --runs from there instead of refitting "
                        "(--resume does too, and continues an unfinished one from its last checkpoint)")
    from .realfaces import DEFAULT_REAL
    p.add_argument("--real", type=Path, default=DEFAULT_REAL,
                   help="real photographs with known expressions (SET/<emotion>/<file>): each model is also "
                        "scored on their faces as the deployed analysis finds them (default: %(default)s)")
    p.add_argument("--no-real", action="store_true", help="leave out the real-photograph columns")
    p.add_argument("--real-views", choices=TTA_RECIPES, default="mirror-zoom",
                   help="test-time views for the real-photograph columns, as the shipped model's metadata "
                        "names them (default: %(default)s)")
    p.add_argument("--shipped", type=Path, default=Path("models/complex_cnn_1-4class.keras"),
                   help="the shipped model's float network (its record beside it): a row of its own, scored "
                        "alike; 'none' leaves it out (default: %(default)s)")
    p.add_argument("--reuse-runs", type=Path, action="append", metavar="DIR",
                   help="also take finished runs from this folder, searched before --runs (repeatable; "
                        "implies --reuse), e.g. the folder of a fine-tuning run")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "comparison",
                   help="folder for comparison.md/.json and the winner's plots (default: %(default)s)")
    p.set_defaults(func=cmd_compare)

    p = steps.add_parser("export", help="export a trained model (default: the comparison's winner) for quantization")
    p.add_argument("--runs", type=Path, default=RUNS_DIR, help="folder holding the trained runs (default: %(default)s)")
    p.add_argument("--model", default=None, help="zoo model to export instead of the comparison's winner")
    p.add_argument("--comparison", type=Path, default=REPORTS_DIR / "comparison" / "comparison.json",
                   help="comparison result naming the winner (default: %(default)s)")
    p.add_argument("--classes", default=None,
                   help="comma-separated subset of the classes the model was trained on: cut its output layer "
                        "to these (e.g. happy,neutral,sad,surprise from a seven-emotion run) (default: all of them)")
    p.add_argument("--checkpoint", default=None,
                   help="file in the run's folder to export, e.g. average.keras (default: the one its summary "
                        "reports: best.keras, or average.keras when weight averaging scored higher)")
    p.add_argument("--out", type=Path, default=Path("models"),
                   help="folder for the exported float model (default: %(default)s)")
    p.set_defaults(func=cmd_export)

    p = steps.add_parser("recalibrate", help="set an exported model's batch-norm statistics to those of the plain "
                                             "training faces (it trained on augmented, mixed-up ones)")
    _common(p)
    p.add_argument("--model", type=Path, required=True, help="exported float .keras model (from the export step)")
    p.add_argument("--views", choices=TTA_RECIPES, default="mirror-zoom",
                   help="test-time views the training faces are seen through, as the function will see faces "
                        "(the quantize step's --tta recipes) (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="where the recalibrated model goes, its export record beside it (default: over --model)")
    p.add_argument("--sample", type=int, default=None,
                   help="recalibrate on this many training faces drawn at random (seeded) instead of all: "
                        "each layer's statistics still average over thousands of faces at every position, "
                        "in a fraction of the time (default: all)")
    p.set_defaults(func=cmd_recalibrate)

    p = steps.add_parser("quantize", help="full-integer int8 TFLite model + metadata + float/int8 evaluation")
    _common(p)
    p.add_argument("--model", type=Path, required=True, help="exported float .keras model (from the export step)")
    p.add_argument("--name", default=None, help="file stem in function/model/ (default: emotion<N classes>)")
    p.add_argument("--representative", type=int, default=600,
                   help="representative images from the train split, stratified by class (default: %(default)s)")
    p.add_argument("--tta", choices=TTA_RECIPES, default="none",
                   help="test-time augmentation recorded in the metadata, used by the function and by this "
                        "evaluation: average each face's probabilities over itself and its mirror image "
                        "('mirror', 2 inferences per face), also over both zoomed in by 10%% ('mirror-zoom', 4), "
                        "or also over both zoomed out by 10%% ('mirror-zoom-in-out', 6), the training "
                        "augmentation's zoom range either way (default: %(default)s)")
    p.add_argument("--mirror", action="store_true", help="the same as --tta mirror (kept for older commands)")
    p.add_argument("--version", default="1.0.0", help="model version written to the metadata (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("function/model"),
                   help="where the int8 model and its metadata go (default: %(default)s)")
    p.add_argument("--reports", type=Path, default=REPORTS_DIR / "quantization",
                   help="folder for the float-vs-int8 evaluation (default: %(default)s)")
    p.set_defaults(func=cmd_quantize)

    p = steps.add_parser("score", help="a float network (a run's checkpoint or an export) on FER2013 validation "
                                       "and the real photographs, through its views, without quantizing it")
    _common(p)
    p.add_argument("--model", type=Path, required=True, help="a .keras network trained on --classes")
    p.add_argument("--views", choices=TTA_RECIPES, default="mirror-zoom",
                   help="test-time views each face is seen through (default: %(default)s, the shipped models')")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL,
                   help="real photographs with known expressions, found as the deployed analysis finds them "
                        "(default: %(default)s); evaluation only")
    p.add_argument("--no-real", action="store_true", help="FER2013 validation only")
    p.add_argument("--cache", type=Path, default=RUNS_DIR,
                   help="folder for the cache of the real photographs' faces (default: %(default)s)")
    p.set_defaults(func=cmd_score)

    p = steps.add_parser("blend", help="interpolate the weights of two trained networks of one architecture "
                                       "(e.g. the shipped model and its fine-tune for photographs)")
    p.add_argument("--model", type=Path, required=True, help="exported float .keras model (share 1 - --weight)")
    p.add_argument("--other", type=Path, required=True, help="exported float .keras model (share --weight)")
    p.add_argument("--weight", type=float, default=0.5, help="share of --other, 0..1 (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True, help="where the blended .keras model goes, its record beside it")
    p.add_argument("--other-head", action="store_true",
                   help="keep --other's own layers where the shapes differ (its output layer, when it was "
                        "fine-tuned for other classes, e.g. seven emotions from a four-emotion --model); the "
                        "result has --other's classes")
    p.set_defaults(func=cmd_blend)

    p = steps.add_parser("adjust-prior", help="divide the training split's class shares out of an exported model's "
                                              "scores (post-hoc logit adjustment), so that no expression is favoured "
                                              "for being common in FER2013")
    p.add_argument("--model", type=Path, required=True, help="exported float .keras model, its record beside it")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                   help="the dataset it was trained on, whose train/ folders give the class shares when the model's "
                        "record has no train_counts (runs fitted before they were recorded) (default: %(default)s)")
    p.add_argument("--tau", type=float, default=1.0,
                   help="how much of the shares to divide out: 1 gives every class the same prior, 0 changes "
                        "nothing (default: %(default)s)")
    p.add_argument("--out", type=Path, help="where the adjusted model goes, its record beside it (default: over --model)")
    p.set_defaults(func=cmd_adjust_prior)

    p = steps.add_parser("prune", help="cut a trained complex_cnn_1 to half width (complex_cnn_1_half: a quarter of "
                                       "the multiply-adds), keeping each convolution's filters with the largest "
                                       "batch-norm scales; fine-tune it with fit --init-from")
    p.add_argument("--model", type=Path, required=True, help="exported float complex_cnn_1 .keras model")
    p.add_argument("--out", type=Path, required=True, help="where the cut .keras model goes, its record beside it")
    p.set_defaults(func=cmd_prune)

    p = steps.add_parser("compact", help="make an exported .keras model small enough to commit (weights rounded "
                                         "to float16 precision, archive deflated)")
    p.add_argument("--model", type=Path, required=True, help="exported float .keras model")
    p.add_argument("--out", type=Path, default=None, help="where the compact model goes (default: over --model)")
    p.set_defaults(func=cmd_compact)

    p = steps.add_parser("requalify", help="re-evaluate a shipped int8 model under --preprocessing and rewrite its "
                                           "metadata (for a model whose float network is not at hand)")
    _common(p)
    p.add_argument("--name", required=True, help="model file stem in --models, e.g. emotion7")
    p.add_argument("--version", required=True, help="the model's new version, e.g. 0.6.0")
    p.add_argument("--models", type=Path, default=Path("function/model"), help="shipped models (default: %(default)s)")
    p.set_defaults(func=cmd_requalify)

    p = steps.add_parser("card", help="write the model card from the shipped models' metadata and reports")
    p.add_argument("--models", type=Path, default=Path("function/model"), help="shipped models (default: %(default)s)")
    p.add_argument("--reports", type=Path, default=REPORTS_DIR / "quantization",
                   help="float-vs-int8 reports (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("docs/model-card.md"), help="card to write (default: %(default)s)")
    p.set_defaults(func=cmd_card)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except DatasetError as exc:
        parser.exit(2, f"error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
