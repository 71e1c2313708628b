"""Train the zoo, tabulate it beside the study, pick the winner, export it for quantization."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, fields, replace
from pathlib import Path

import keras
import numpy as np

from .data import DatasetError, Split
from .evaluate import summarize
from .plots import plot_confusion
from .realfaces import detected_faces, real_photo_scores
from .training import (FitConfig, evaluate_split, export_inference_model, fit, read_history, run_checkpoint,
                       training_record)
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
            "schedule": run["config"].get("schedule", "plateau"), "epoch_budget": run["config"].get("epochs"),
            "learning_rate": run["config"].get("learning_rate"),
            "classes": len(run.get("classes") or last.get("classes") or ())}


def compare(configs: list[FitConfig], train: Split, val: Split, runs_dir: Path, out: Path,
            reuse: bool = False, reuse_dirs: tuple[Path, ...] = (), real: Path | None = None,
            real_views: str = "mirror-zoom", shipped: Path | None = None) -> dict:
    """Fit each model (or, with ``reuse`` or ``--resume``, take a finished run's summary) and
    tabulate, with each model's scores on the real photographs (``real``) and the learning curves
    of every run (``out/curves/``). ``reuse_dirs`` are searched for a finished run before
    ``runs_dir``. ``shipped``, the shipped model's float network, gets a row of its own."""
    out.mkdir(parents=True, exist_ok=True)
    faces = detected_faces(real, runs_dir) if real else None
    # Rows of the table already written: with --resume, a model trained to the same recipe in an
    # earlier session whose run folder is gone (they are never committed) is not trained again.
    earlier = json.loads((out / "comparison.json").read_text()) if (out / "comparison.json").exists() else {}
    earlier_rows = {row["model"]: row for row in earlier.get("rows", []) if row.get("val_metrics")}
    rows = []
    for i, cfg in enumerate(configs, 1):
        found = [Path(d) / cfg.model for d in (*reuse_dirs, runs_dir) if (Path(d) / cfg.model / "summary.json").exists()]
        if found and cfg.resume and not (reuse or reuse_dirs):
            ran = json.loads((found[0] / "summary.json").read_text())["config"]
            if not same_recipe(ran, cfg):
                print(f"[{i}/{len(configs)}] {cfg.model}: {found[0]} ran another recipe; training again")
                found, cfg = [], replace(cfg, resume=False)
        row = earlier_rows.get(cfg.model)
        if not found and cfg.resume and row and same_recipe(row["config"], cfg):
            print(f"[{i}/{len(configs)}] {cfg.model}: taking its row of {out / 'comparison.json'} (same recipe)")
            rows.append(row)
            continue
        if (reuse or reuse_dirs or cfg.resume) and found:
            print(f"[{i}/{len(configs)}] {cfg.model}: reusing {found[0]}")
            summary = with_earlier_stages(json.loads((found[0] / "summary.json").read_text()))
            summary["run_dir"] = str(found[0])
            cfg = FitConfig(**summary["config"])  # the budget it actually ran with
        else:
            print(f"[{i}/{len(configs)}] {cfg.model}")
            summary = with_earlier_stages(fit(cfg, train, val, runs_dir))
            summary["run_dir"] = str(Path(runs_dir) / cfg.model)
        entry = ZOO[cfg.model]
        summary.update(input=entry.input, study_params=entry.study_params, study_val_loss=entry.study_val_loss,
                       study_val_acc=entry.study_val_acc, size_bytes=summary["params"] * 4,
                       max_minutes=cfg.max_minutes)
        run = Path(summary["run_dir"])
        summary["val_metrics"] = summarize(np.load(run / "val_probs.npy"), val.labels, list(val.classes))
        if (run / "history.csv").exists():  # augmented training faces below validation: underfit at this budget
            summary["last_train_acc"] = round(read_history(run / "history.csv")["accuracy"][-1], 4)
        if faces:
            model = keras.models.load_model(run_checkpoint(run))
            summary["real"] = real_photo_scores(model, faces, val.classes, val.preprocessing, real_views)
        curves = out / "curves"
        curves.mkdir(exist_ok=True)
        for name in ("curves.png", "history.csv"):
            if (run / name).exists():
                shutil.copyfile(run / name, curves / f"{cfg.model}{Path(name).suffix}")
        rows.append(summary)
    rows.sort(key=lambda row: list(ZOO).index(row["model"]))  # the study's order, whatever the training order
    winner = choose_winner(rows)
    metrics = winner["val_metrics"]
    plot_confusion(np.array(metrics["confusion_matrix"]), list(val.classes), out / "winner_confusion.png",
                   f"{winner['model']} (validation)")
    result = {"classes": list(val.classes), "validation_images": len(val), "train_images": len(train),
              "real_views": real_views if faces else None, "rows": rows, "winner": winner["model"],
              "winner_metrics": metrics}
    if shipped and Path(shipped).exists():
        result["shipped"] = shipped_row(Path(shipped), val, faces, real_views)
    (out / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "comparison.md").write_text(_markdown(result))
    print(f"winner: {winner['model']} (val_acc {winner['val_acc']:.4f}); table in {out}/comparison.md")
    return result


def same_recipe(ran: dict, cfg: FitConfig) -> bool:
    """Whether a run's recorded config is ``cfg``'s, whether or not either resumed (an option
    added since the run was recorded counts at its default)."""
    # Neither resuming nor the number of augmentation workers changes what a run learns from.
    wanted = {k: v for k, v in asdict(cfg).items() if k not in ("resume", "workers")}
    defaults = {f.name: f.default for f in fields(FitConfig)}
    return {k: ran.get(k, defaults[k]) for k in wanted} == wanted


def shipped_row(path: Path, val: Split, faces: dict | None, real_views: str) -> dict:
    """The shipped model's float network, scored as the trained rows are (single view on
    FER2013 validation, ``real_views`` on the photographs), with its training record's stages."""
    record = training_record(path)
    model = keras.models.load_model(path)
    val_loss, val_acc, _ = evaluate_split(model, val, keras.utils.to_categorical(val.labels, len(val.classes)))
    row = dict(record) if record.get("stages") or not record.get("config") else with_earlier_stages(record)
    row.update(path=str(path), params=int(model.count_params()), val_loss=round(val_loss, 4), val_acc=round(val_acc, 4))
    if faces:
        row["real"] = real_photo_scores(model, faces, val.classes, val.preprocessing, real_views)
    return row


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
    if stage.get("max_minutes") and stage.get("schedule") in ("budget", "plateau"):
        text = f"{stage['max_minutes']:g} min"
    else:  # an epoch budget: a warm-up epoch, then a cosine to zero at the last one
        epochs = stage.get("epoch_budget") or stage["epochs"]
        text = f"{epochs} epoch{'s' if epochs != 1 else ''}"
        if stage.get("learning_rate"):
            text += f" from {stage['learning_rate']:g}"
    if stage.get("classes") and stage["classes"] != n_classes:
        text += f" on {stage['classes']} classes"
    return text + (" (time hit)" if stage.get("budget_exhausted") else "")


def _study(figure, spec: str) -> str:
    """A study figure for the table; a dash for a network that is not one of the study's."""
    return "–" if figure is None else format(figure, spec)


def _real_cells(row: dict, sets: list[str]) -> str:
    real = row.get("real") or {}
    return "".join(f" {real[s]['accuracy']:.3f} |" if s in real else " |" for s in sets)


def _markdown(r: dict) -> str:
    sets = sorted({s for row in r["rows"] + [r.get("shipped") or {}] for s in (row.get("real") or {})})
    real_head = "".join(f" {s} |" for s in sets)
    lines = ["# Model comparison", "",
             f"Classes: {', '.join(r['classes'])}. Train: FER2013 Training ({r['train_images']} images); validation: FER2013 PublicTest ({r['validation_images']} images), one view per face. The "
             "study's figures are on its own validation set, so they are context, not a like-for-like comparison.",
             ""]
    if sets:
        lines += [f"Real photographs (`../shared/data/real`, evaluation only): accuracy on the largest face of each "
                  f"photograph as the deployed analysis finds it (no face found counts wrong), the float network "
                  f"with the `{r['real_views']}` test-time views (`train/realfaces.py`).", ""]
    lines += ["| model | input | params (ours / study) | ImageNet weights | val loss (ours / study) | "
              f"val acc (ours / study) |{real_head} train acc, last epoch | epochs | budget | train time | float size |",
              "|---|---|---|---|---|---|" + "---|" * len(sets) + "---|---|---|---|---|"]
    for row in r["rows"]:
        transfer = ZOO[row["model"]].transfer
        weights = ("yes" if row["pretrained"] else "no: random init (no download)") if transfer else "n/a"
        budget = " + ".join(_budget(s, len(r["classes"])) for s in row.get("stages") or [row])
        mark = " **(winner)**" if row["model"] == r["winner"] else ""
        lines.append(
            f"| {row['model']}{mark} | {row['input']} | {row['params']:,} / {_study(row['study_params'], ',')} | "
            f"{weights} | {row['val_loss']:.3f} / {_study(row['study_val_loss'], '.2f')} | "
            f"{row['val_acc']:.3f} / {_study(row['study_val_acc'], '.2f')} |"
            f"{_real_cells(row, sets)} {row.get('last_train_acc', float('nan')):.3f} | {row['epochs']} | {budget} | "
            f"{row['train_seconds'] / 60:.1f} min | "
            f"{row['size_bytes'] / 2**20:.1f} MiB |")
    shipped = r.get("shipped")
    if shipped:
        budget = " + ".join(_budget(s, len(r["classes"])) for s in shipped.get("stages") or [])
        blend = shipped.get("blend")
        if blend:  # train blend: its weights are a mix with another network's
            other = blend.get("other_record") or {}
            budget += (f"; blended {blend['other_share']:g} with `{blend['other']}` (those stages + "
                       f"{_budget((other.get('stages') or [other])[-1], len(r['classes']))})")
        lines.append(
            f"| shipped: {shipped.get('model', '?')} (`{shipped['path']}`) | gray | {shipped['params']:,} | n/a | "
            f"{shipped['val_loss']:.3f} | {shipped['val_acc']:.3f} |{_real_cells(shipped, sets)} | "
            f"{shipped.get('epochs', '')} | {budget or 'see its record'} | "
            f"{shipped.get('train_seconds', 0) / 60:.1f} min | {shipped['params'] * 4 / 2**20:.1f} MiB |")
    m = r["winner_metrics"]
    lines += ["", f"Winner (best validation accuracy, ties by loss): **{r['winner']}**, accuracy {m['accuracy']:.4f}, "
              f"loss {m['loss']:.4f}.", "", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for c, v in m["per_class"].items():
        lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    lines += ["", "![winner confusion matrix](winner_confusion.png)", "", "Learning curves, one per row: "
              + ", ".join(f"[{row['model']}](curves/{row['model']}.png)" for row in r["rows"]) + ".", "",
              "Every trained row used one recipe (`python -m train compare`, docs/training.md): Adam, a warm-up epoch "
              "then a cosine to zero over the row's epochs from its peak rate (its budget), batch 64, label "
              "smoothing 0.1, the study's augmentation plus photographic augmentation for half the images, "
              "equalized faces. Validation loss is plain cross-entropy (no label smoothing), comparable "
              "across rows. A budget of several stages (a + b + ...) is a model trained, then fine-tuned from the "
              "previous stage's checkpoint; \"on 7 classes\" is a stage on all seven emotions; epochs and time "
              "count every stage. \"(time hit)\" marks a stage stopped by its time limit. \"Train acc, last epoch\" is "
              "on augmented training faces: below validation, the model had not yet fitted them when its budget "
              "ended.", ""]
    return "\n".join(lines)
