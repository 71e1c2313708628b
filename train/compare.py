"""Train the zoo, tabulate it beside the study, pick the winner, export it for quantization."""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from .data import DatasetError, Split
from .evaluate import summarize
from .plots import plot_confusion
from .training import FitConfig, export_inference_model, fit, run_checkpoint, training_record
from .zoo import ZOO


def choose_winner(rows: list[dict]) -> dict:
    """Best validation accuracy; ties broken by the lower validation loss."""
    return min(rows, key=lambda r: (-r["val_acc"], r["val_loss"]))


def with_earlier_stages(summary: dict) -> dict:
    """A run started from another model's weights (``--init-from``) reports every stage:
    epochs and training time add up, and ``stages`` lists each stage's budget. The earlier
    model is a run folder's checkpoint (its ``summary.json``) or an export (its sidecar JSON,
    which lists the stages before it, so they survive the run folders)."""
    stages, current = [], summary
    while True:
        if current is not summary and current.get("stages"):
            stages = current["stages"] + stages
            break
        stages.insert(0, _stage(current, summary))
        init_from = current["config"].get("init_from")
        earlier = init_from and training_record(init_from)
        if not earlier:
            break
        current = earlier
    return {**summary, "epochs": sum(s["epochs"] for s in stages),
            "train_seconds": round(sum(s["train_seconds"] for s in stages), 1), "stages": stages}


def _stage(run: dict, last: dict) -> dict:
    return {"max_minutes": run["config"].get("max_minutes"), "budget_exhausted": run.get("budget_exhausted"),
            "epochs": run["epochs"], "train_seconds": run["train_seconds"],
            "schedule": run["config"].get("schedule", "plateau"),
            "classes": len(run.get("classes") or last.get("classes") or ())}


def compare(configs: list[FitConfig], train: Split, val: Split, runs_dir: Path, out: Path,
            reuse: bool = False, reuse_dirs: tuple[Path, ...] = ()) -> dict:
    """Fit each model (or, with ``reuse``, take a finished run's summary) and tabulate.
    ``reuse_dirs`` are searched for a finished run before ``runs_dir``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, cfg in enumerate(configs, 1):
        found = [Path(d) / cfg.model for d in (*reuse_dirs, runs_dir) if (Path(d) / cfg.model / "summary.json").exists()]
        if (reuse or reuse_dirs) and found:
            print(f"[{i}/{len(configs)}] {cfg.model}: reusing {found[0]}")
            summary = with_earlier_stages(json.loads((found[0] / "summary.json").read_text()))
            summary["run_dir"] = str(found[0])
            cfg = FitConfig(**summary["config"])  # the budget it actually ran with
        else:
            print(f"[{i}/{len(configs)}] {cfg.model}")
            summary = fit(cfg, train, val, runs_dir)
            summary["run_dir"] = str(Path(runs_dir) / cfg.model)
        entry = ZOO[cfg.model]
        summary.update(input=entry.input, study_params=entry.study_params, study_val_loss=entry.study_val_loss,
                       study_val_acc=entry.study_val_acc, size_bytes=summary["params"] * 4,
                       max_minutes=cfg.max_minutes)
        rows.append(summary)
    winner = choose_winner(rows)
    probs = np.load(Path(winner["run_dir"]) / "val_probs.npy")
    metrics = summarize(probs, val.labels, list(val.classes))
    plot_confusion(np.array(metrics["confusion_matrix"]), list(val.classes), out / "winner_confusion.png",
                   f"{winner['model']} (validation)")
    result = {"classes": list(val.classes), "validation_images": len(val), "train_images": len(train),
              "rows": rows, "winner": winner["model"], "winner_metrics": metrics}
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "comparison.md").write_text(_markdown(result))
    print(f"winner: {winner['model']} (val_acc {winner['val_acc']:.4f}); table in {out}/comparison.md")
    return result


def export_winner(runs_dir: Path, out_dir: Path, model_name: str | None,
                  comparison: Path = Path("reports/comparison/comparison.json"),
                  classes: tuple[str, ...] | None = None, checkpoint: str | None = None) -> Path:
    """Export a run's checkpoint (its best epoch or its weight average, whichever its summary
    reports; ``checkpoint`` names another) without augmentation. ``classes``, a subset of the
    classes it was trained on, cuts its output layer to those (softmax over their logits alone),
    so one seven-emotion training can also serve the four emotions."""
    if model_name is None:
        model_name = json.loads(Path(comparison).read_text())["winner"]
    run = Path(runs_dir) / model_name
    summary = with_earlier_stages(json.loads((run / "summary.json").read_text()))
    reported = run_checkpoint(run)
    path = run / checkpoint if checkpoint else reported
    trained = keras.models.load_model(path)
    fitted = tuple(summary["classes"])
    classes = tuple(classes or fitted)
    if not set(classes) <= set(fitted):
        raise DatasetError(f"{run} was trained on {', '.join(fitted)}: cannot export {', '.join(classes)}")
    out = Path(out_dir) / f"{model_name}-{len(classes)}class.keras"
    export_inference_model(trained, model_name, out, fitted, classes)
    # The run's validation figures belong to another checkpoint, or to all the classes it was trained on.
    note = {"exported_checkpoint": path.name} if path != reported else {}
    if classes != fitted:
        note.update(classes=list(classes), cut_from_classes=list(fitted))
    if note:
        summary = {**{k: v for k, v in summary.items() if k not in ("val_acc", "val_loss")}, **note}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"exported {model_name} ({', '.join(classes)}, {path.name}) without augmentation to {out}")
    return out


def _budget(stage: dict, n_classes: int) -> str:
    text = f"{stage['max_minutes']:g} min" if stage.get("max_minutes") else "none"
    if stage.get("classes") and stage["classes"] != n_classes:
        text += f" on {stage['classes']} classes"
    return text + (" (hit)" if stage.get("budget_exhausted") else "")


def _markdown(r: dict) -> str:
    lines = ["# Model comparison", "",
             f"Classes: {', '.join(r['classes'])}. Train: FER2013 Training ({r['train_images']} images); "
             f"validation: FER2013 PublicTest ({r['validation_images']} images). The study's figures are on "
             "its own validation set, so they are context, not a like-for-like comparison.", "",
             "| model | input | params (ours / study) | ImageNet weights | val loss (ours / study) | "
             "val acc (ours / study) | epochs | budget | train time | float size |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        transfer = ZOO[row["model"]].transfer
        weights = ("yes" if row["pretrained"] else "no: random init (no download)") if transfer else "n/a"
        budget = " + ".join(_budget(s, len(r["classes"])) for s in row.get("stages") or [row])
        mark = " **(winner)**" if row["model"] == r["winner"] else ""
        lines.append(
            f"| {row['model']}{mark} | {row['input']} | {row['params']:,} / {row['study_params']:,} | {weights} | "
            f"{row['val_loss']:.3f} / {row['study_val_loss']:.2f} | {row['val_acc']:.3f} / {row['study_val_acc']:.2f} | "
            f"{row['epochs']} | {budget} | {row['train_seconds'] / 60:.1f} min | {row['size_bytes'] / 2**20:.1f} MiB |")
    m = r["winner_metrics"]
    lines += ["", f"Winner (best validation accuracy, ties by loss): **{r['winner']}**, accuracy {m['accuracy']:.4f}, "
              f"loss {m['loss']:.4f}.", "", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for c, v in m["per_class"].items():
        lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    lines += ["", "![winner confusion matrix](winner_confusion.png)", "",
              "Validation loss is plain cross-entropy (no label smoothing), comparable across rows. A row whose "
              "budget says \"(hit)\" was stopped when its time ran out, with its best checkpoint kept: read its "
              "accuracy together with its budget and epochs. A budget of several stages (a + b + ...) is a model "
              "trained, then fine-tuned from the previous stage's best checkpoint with a cosine schedule "
              "(`--init-from`; a stage \"on 7 classes\" trained on all seven emotions with a new output layer, "
              "and a four-class stage after one keeps the output weights of its four classes); epochs and time "
              "count every stage.", ""]
    return "\n".join(lines)
