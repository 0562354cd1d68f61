"""A run as it is queued (training.spec.RunSpec): typed across Ray, flat in the class database."""

from __future__ import annotations

from training.config import TrainConfig
from training.spec import RunSpec


def test_a_spec_is_kept_flat_as_every_release_wrote_a_run_and_read_back_whole():
    config = TrainConfig(name="ada-1", epochs=3, dense_units=(64, 32)).resolved()
    spec = RunSpec(config, owner="ada", session="s-1", running_limit=2, experiment={"name": "nb-batch"}, queue="local x")
    record = spec.record()
    assert record["name"] == "ada-1" and record["epochs"] == 3 and record["loss"] == config.loss  # the config's fields...
    assert {k: record[k] for k in ("owner", "session", "teacher", "running_limit", "experiment", "queue")} == {
        "owner": "ada",
        "session": "s-1",
        "teacher": False,
        "running_limit": 2,
        "experiment": {"name": "nb-batch"},
        "queue": "local x",
    }  # ...beside who it is for, as the pages and the recovery read them
    assert RunSpec.of(record) == spec


def test_an_older_releases_record_reads_with_the_defaults_and_drops_what_is_not_a_field():
    spec = RunSpec.of({"name": "old", "epochs": 2, "owner": None, "experiment": None, "dropped_option": 1})
    assert (spec.config.name, spec.config.epochs) == ("old", 2)
    assert (spec.owner, spec.session, spec.teacher, spec.running_limit, spec.experiment, spec.queue) == (
        "?",
        "",
        False,
        0,
        {},
        "",
    )
