"""Upload -> bucket notification (the template's own filters) -> handler -> result beside the image."""
import json

import pytest

from images import encode, face
from infra import local_pipeline
from infra.local import LocalDeployment, import_handler, use_stand_in_environment
from infra.local_pipeline import MODEL_DIR


def test_samples_all_get_results_and_results_trigger_nothing(deployment):
    images = local_pipeline.default_images()
    keys = [f"{deployment.prefix}samples/{p.name}" for p in images]
    for path, key in zip(images, keys):
        deployment.upload(key, path.read_bytes())
    deployment.drain()
    results = {key: deployment.result(key) for key in keys}
    assert all(r is not None for r in results.values()), [k for k, r in results.items() if r is None]
    assert deployment.invocations == len(images)  # one event per upload, none from the results
    assert deployment.pending_events() == 0
    statuses = {k.rsplit("/", 1)[1]: r["status"] for k, r in results.items()}
    assert statuses.pop("not-a-photo.jpg") == "error"
    assert set(statuses.values()) == {"ok"}


def test_phone_style_upper_case_names_are_classified(deployment):
    key = f"{deployment.prefix}DCIM/IMG_0001.JPG"
    deployment.upload(key, encode(face("happy").convert("RGB"), "JPEG"))
    deployment.drain()
    assert deployment.result(key)["status"] == "ok"


def test_json_uploads_and_other_prefixes_raise_no_event(deployment):
    deployment.upload(f"{deployment.prefix}user-made.json", json.dumps({"a": 1}).encode())
    deployment.upload("elsewhere/photo.jpg", encode(face("sad"), "JPEG"))
    assert deployment.drain() == []
    assert deployment.invocations == 0


def test_mixed_case_extensions_beyond_the_three_cases_are_a_known_gap(deployment):
    """S3 suffix filters are case-sensitive; lower, UPPER and Title case are listed, '.jPg' is not."""
    deployment.upload(f"{deployment.prefix}odd.jPg", encode(face("sad"), "JPEG"))
    assert deployment.drain() == []


def test_pipeline_command_prints_a_table(capsys, aws):
    assert local_pipeline.main([]) == 0
    out = capsys.readouterr().out
    assert "result key" in out and "not_an_image" in out
    assert "0 events raised by results" in out


@pytest.mark.parametrize("model", local_pipeline.shipped_models())
def test_every_shipped_model_is_selectable_and_its_labels_reach_the_result(aws, model):
    """ModelName (template) / --model (pipeline) picks the model; its labels come from its metadata."""
    meta = json.loads((MODEL_DIR / f"{model}.json").read_text())
    use_stand_in_environment({"ModelName": model})
    try:
        deployment = LocalDeployment(f"select-{model}", overrides={"ModelName": model}, reload=True)
        key = f"{deployment.prefix}face.jpg"
        deployment.upload(key, encode(face("surprise"), "JPEG"))
        deployment.drain()
        result = deployment.result(key)
        assert result["model"]["name"] == model
        assert list(result["scores"]) == meta["labels"]
        assert result["emotion"] in meta["labels"]
    finally:
        use_stand_in_environment()
        import_handler(reload=True)
