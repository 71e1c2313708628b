"""The model card (docs/model-card.md), written from the shipped models' metadata and the
float-vs-int8 evaluation reports, so every figure in it can be regenerated."""
from __future__ import annotations

import json
from pathlib import Path

HEADER = """# Model card: facial-emotion classifiers

## Intended use
Label the facial expression of a face in an uploaded photo with one of a few basic emotion categories,
for aggregate analytics, content tagging, user-experience research or accessibility features where a
wrong label is cheap. The models read one 48x48 gray face crop; the service finds faces in larger photos
with a face detector first (see [face-detection.md](face-detection.md)).

## Not for
- Decisions about people: hiring, admission, credit, insurance, policing, border control, medical or
  psychological diagnosis, lie or intent detection, grading students or employees.
- Inferring what someone feels. The models recognise posed or visible *expressions*, which are not the
  same thing as inner emotional states, and which vary with culture, context and person.
- Surveillance or tracking of individuals, or any use on people who have not agreed to it.
- Children, medical imaging, non-photographic faces (drawings, avatars), or very small faces.

## Data
FER2013 (Goodfellow et al., 2013): 48x48 gray face crops collected by web image search for emotion
keywords, labelled once by crowd workers. Training split "Training" ({train:,} images), validation split
"PublicTest" ({validation:,} images); the private test split is not used here, so all figures are
validation figures. The data report ([reports/data/report.md](../reports/data/report.md)) shows strong
class imbalance (largest/smallest class: {imbalance}x), {groups:,} groups of exact duplicate images,
{across:,} of them spanning train and validation, and {conflicting:,} with conflicting labels.
"""

LIMITS = """
## Known limitations and biases
- **Demographics.** FER2013 was gathered by web image search and has no demographic labels; its
  make-up by age, skin tone, gender presentation or disability is undocumented, web collections tend to
  over-represent some groups, and accuracy per group is unknown. It has not been audited here.
- **Posed versus spontaneous.** Many images are posed, exaggerated stock-photo expressions; subtle,
  spontaneous expressions (most real photos) are recognised less reliably, and "neutral" and "sad" are
  often confused (see the confusion matrices).
- **Photographs.** On posed photographs of other people (taiwanese-dev) posed surprise and sadness are
  often read as neutral, and the `fer` package reads them better (per-set figures above); every face
  is histogram-equalized first, as FER2013's files were, which helps most on under- or over-exposed
  faces and cannot restore detail lost to blur or a tiny face.
- **Low resolution.** Inputs are 48x48 gray: glasses, occlusion by hands, strong head turns, low light
  and motion blur degrade results. Colour is discarded.
- **Label noise.** FER2013 labels come from one annotator each; a published re-annotation by ten
  annotators per image (FER+) disagrees with a share of them, which caps the accuracy any model can show.
- **Leakage.** {across:,} groups of identical images appear in both train and validation, which
  slightly flatters validation figures.
- **Closed label set.** Every face gets one of the model's labels, even when none applies; read the
  confidence and the full score distribution, not only the top label.

## Versions and integrity
Each model file is verified against the sha256 in its metadata when the function starts; a mismatch
refuses to load. Regenerate this card with `python -m train card`.
"""


def _views(value) -> tuple[str, ...]:
    from .function_code import views
    return views.views_from_metadata(value)


def model_section(meta: dict, report: dict | None) -> str:
    m = meta["metrics"]
    views = _views(meta.get("test_time_augmentation"))
    lines = [f"## `{meta['name']}` {meta['version']}: {', '.join(meta['labels'])}", "",
             f"- Architecture: `{meta['architecture']}`, {meta['params']:,} parameters; int8 TFLite, "
             f"{meta['size_bytes'] / 2**20:.2f} MB; sha256 `{meta['sha256'][:16]}...`; created {meta['created']}.",
             f"- Input: {meta['input']['shape']} {meta['input']['dtype']} (scale {meta['input']['scale']:.6g}, "
             f"zero point {meta['input']['zero_point']}); {meta['input']['preprocessing']}.",
             f"- Training data: {meta['training_data']}.",
             *([f"- Test-time augmentation: each face is classified in {len(views)} views ({', '.join(views)}) "
                "and the probability vectors are averaged."] if len(views) > 1 else []),
             *([_prior_line(meta["output"]["prior_adjustment"])] if "prior_adjustment" in meta.get("output", {}) else []),
             f"- Validation ({m['validation_split']}): int8 accuracy **{m['int8_accuracy']:.4f}** "
             + (f"(float {m['float_accuracy']:.4f}), loss {m['int8_loss']:.4f}; int8 and float agree on "
                f"{m['top1_agreement']:.2%} of top labels." if "float_accuracy" in m else
                f"(loss {m['int8_loss']:.4f}), with its preprocessing; "
                f"{m['requalified']['int8_accuracy_before']:.4f} as {m['requalified']['from_version']}, without it "
                "(`python -m train requalify`: the float network is not at hand)."), "",
             "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
    for c, v in m["per_class"].items():
        lines.append(f"| {c} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |")
    if report:
        lines += ["", f"![int8 confusion matrix](../reports/quantization/{meta['name']}-int8-confusion.png)",
                  "", f"Full float-vs-int8 report: [reports/quantization/{meta['name']}.md]"
                  f"(../reports/quantization/{meta['name']}.md)."]
    return "\n".join(lines) + "\n"


def _prior_line(prior: dict) -> str:
    shares = ", ".join(f"{c} {v:.0%}" for c, v in prior["training_shares"].items())
    return (f"- Scores: as if every label were equally common. The training split's class shares ({shares}) "
            f"are divided out (tau {prior['tau']:g}, `python -m train adjust-prior`), so a label is not "
            "favoured for being frequent in FER2013; multiply by your own uploads' mix and normalize to put one back.")


def _people_cell(row: dict | None, current: bool) -> str:
    """The interval over people (bench/person_intervals.py) for one set; ``current``: it was
    measured from the answers the card shows."""
    if not row:
        return "not measured"
    if not current:
        return "stale: rerun `python -m bench.person_intervals`"
    low, high = row["service"]["interval"]
    return f"{low:.3f}-{high:.3f} ({row['people']} people)"


def real_photos_section(meta: dict, realphotos: dict | None, people: dict | None = None) -> str:
    """What users get on photographs (bench/realphotos.py's committed results), how sure that is
    (bench/person_intervals.py's, when given), and where it is weak."""
    task = realphotos and realphotos["report"].get(meta["name"])
    if not task:
        return ""
    from bench.realphotos import answers_digest
    intervals = (people or {}).get("report", {}).get(meta["name"], {})
    current = bool(people) and people.get("service_answers_sha256") == answers_digest(realphotos["service"])
    measured = realphotos["versions"].get(meta["name"])
    lines = ["", f"### On real photographs (`python -m bench.realphotos`, {realphotos['date']}, {meta['name']} "
             f"{measured}{'' if measured == meta['version'] else ': NOT this version, rerun it'})", "",
             "End to end: face detection, the largest face's label; no face found counts wrong. Beside it, the "
             f"`fer` package {realphotos.get('fer_version') or ''} (Haar cascade + mini-Xception).", "",
             "A set shows a few people many times, so the interval resamples people, not photos: 95%, "
             "`python -m bench.person_intervals`.", "",
             "| set | images | accuracy | 95% interval over people | macro-F1 | no face found | fer accuracy | "
             "weakest classes (recall) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in task.items():
        s, f = row["service"], row.get("fer")
        c = s["confusion"]
        recalls = {r: c["counts"][i][c["columns"].index(r)] / max(1, sum(c["counts"][i])) for i, r in enumerate(c["rows"])}
        weak = ", ".join(f"{k} {v:.2f}" for k, v in sorted(recalls.items(), key=lambda kv: kv[1])[:2] if v < 0.7)
        fer = f"{f['accuracy']:.3f}" if f else ""
        lines.append(f"| {name} | {s['images']} | {s['accuracy']:.3f} | {_people_cell(intervals.get(name), current)} | "
                     f"{s['macro_f1']:.3f} | {s['no_face']} | {fer} | {weak or 'none below 0.70'} |")
    lines += ["", f"Confusion matrices: [reports/realphotos/{meta['name']}-confusion.png]"
              f"(../reports/realphotos/{meta['name']}-confusion.png)."]
    return "\n".join(lines) + "\n"


def _mean_real(row: dict) -> float | None:
    real = row.get("real") or {}
    return sum(v["accuracy"] for v in real.values()) / len(real) if real else None


def comparison_section(comparison: dict | None) -> str:
    """Why the shipped architecture, from the comparison table (``python -m train compare``)."""
    if not comparison or not comparison.get("shipped"):
        return ""
    rows, shipped = comparison["rows"], comparison["shipped"]
    sets = sorted({s for row in rows + [shipped] for s in (row.get("real") or {})})
    lines = ["## Why this network", "",
             "`python -m train compare` trained the study's seven models with one recipe, each for its own "
             "epoch budget ([reports/comparison/comparison.md](../reports/comparison/comparison.md), learning "
             "curves there). FER2013 validation is one view per face; the real photographs are scored on the "
             "deployed analysis's faces with the shipped model's test-time views (float networks).", "",
             "| model | epochs | FER2013 validation |" + "".join(f" {s} |" for s in sets) + " unweighted mean of the sets |",
             "|---|---|---|" + "---|" * len(sets) + "---|"]
    for row in rows + [dict(shipped, model=f"shipped: {shipped['model']}")]:
        real = row.get("real") or {}
        mean = _mean_real(row)
        lines.append(f"| {row['model']} | {row.get('epochs', '')} | {row['val_acc']:.3f} |"
                     + "".join(f" {real[s]['accuracy']:.3f} |" if s in real else " |" for s in sets)
                     + (f" {mean:.3f} |" if mean is not None else " |"))
    best_val = max(rows, key=lambda r: r["val_acc"])
    scored = [r for r in rows if _mean_real(r) is not None]
    best_real = max(scored, key=_mean_real) if scored else None
    text = (f"Under the one recipe, **{best_val['model']}** scores highest on FER2013 validation "
            f"({best_val['val_acc']:.3f})")
    if best_real:
        text += f" and **{best_real['model']}** on the photographs ({_mean_real(best_real):.3f} on average)"
    text += (f". The shipped network is `{shipped['model']}`, trained for {shipped.get('epochs', '?')} epochs in "
             f"stages ({shipped.get('train_seconds', 0) / 3600:.1f} hours on this CPU)"
             + (", then blended with a fine-tune for photographs" if shipped.get("blend") else "")
             + " (docs/training.md)")
    beats = all(shipped["val_acc"] >= r["val_acc"] for r in rows) and (
        not scored or (_mean_real(shipped) or 0) >= max(_mean_real(r) for r in scored))
    text += (": it is above every row of the table on both, which is why it is shipped." if beats else
             ": it is not above every row on both measures; see the table before choosing it.")
    lines += ["", text]
    return "\n".join(lines) + "\n"


def data_figures(report_path: Path) -> dict:
    r = json.loads(report_path.read_text())
    return {"train": r["splits"]["train"]["images"], "validation": r["splits"]["validation"]["images"],
            "imbalance": r["splits"]["train"]["imbalance_ratio"], "groups": r["duplicates"]["groups"],
            "across": r["duplicates"]["groups_across_splits"],
            "conflicting": r["duplicates"]["groups_with_conflicting_labels"]}


def write_card(model_dir: Path, reports_dir: Path, out: Path,
               data_report: Path = Path("reports/data/report.json"),
               realphotos: Path = Path("reports/realphotos/realphotos.json"),
               comparison: Path = Path("reports/comparison/comparison.json")) -> Path:
    figures = data_figures(data_report)
    real = json.loads(realphotos.read_text()) if realphotos.exists() else None
    people_path = realphotos.with_name("person_intervals.json")
    people = json.loads(people_path.read_text()) if people_path.exists() else None
    table = json.loads(comparison.read_text()) if comparison.exists() else None
    sections = []
    for meta_path in sorted(model_dir.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        if "labels" not in meta or "metrics" not in meta:
            continue  # the face detector's metadata, or an unfinished model
        report_path = reports_dir / f"{meta['name']}.json"
        sections.append(model_section(meta, json.loads(report_path.read_text()) if report_path.exists() else None)
                        + real_photos_section(meta, real, people))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(HEADER.format(**figures) + "\n" + "\n".join(sections) + "\n" + comparison_section(table)
                   + LIMITS.format(**figures))
    print(f"model card written to {out}")
    return out
