"""The release decisions as pure functions: version rule, tag message, assignments, rollback."""

from __future__ import annotations

import pytest
from support.release_repo import IMAGE, evaluation, image

from contrail.release.versions import (
    RECORD_MARKER,
    Assignment,
    ModelState,
    Registration,
    ReleaseError,
    ReleaseRecord,
    bump_for,
    check_image,
    decide_assign,
    decide_register,
    headline_metrics,
    parse_version,
    release_table,
    rollback_target,
)

STATE = ModelState(
    md5="a" * 32,
    features=("carrier", "origin", "distance"),
    train_start="2013-01",
    train_end="2013-05",
    data_md5="d" * 32,
)


def changed(**fields: object) -> ModelState:
    values = {**STATE.__dict__, "md5": "b" * 32, **fields}
    return ModelState(**values)  # type: ignore[arg-type]


def reg(version: str, commit: str, message: str = "") -> Registration:
    return Registration(version, commit, f"flight-delay@{version}", message)


def test_feature_list_change_is_major_window_or_data_minor_else_patch() -> None:
    assert bump_for(STATE, changed(features=("carrier", "origin")))[0] == "major"
    assert bump_for(STATE, changed(features=("carrier", "origin", "distance", "temp")))[1] == (
        "feature list changed (+temp)"
    )
    # The same features in another order leave the request schema as it is.
    assert bump_for(STATE, changed(features=("distance", "origin", "carrier")))[0] == "patch"
    assert bump_for(STATE, changed(train_end="2013-06")) == (
        "minor",
        "training window 2013-01..2013-05 -> 2013-01..2013-06",
    )
    assert bump_for(STATE, changed(data_md5="e" * 32))[0] == "minor"
    assert bump_for(STATE, changed()) == ("patch", "model retrained (hyperparameters or code)")


def test_first_version_is_v1_0_0() -> None:
    decision = decide_register("c1", STATE, [], None)
    assert (decision.action, decision.version, decision.bump) == ("register", "v1.0.0", "first")
    assert decision.line() == "flight-delay v1.0.0: new version (first: first version)"


def test_a_byte_identical_model_gets_no_version() -> None:
    decision = decide_register("c2", changed(md5=STATE.md5), [reg("v1.0.0", "c1")], STATE)
    assert (decision.action, decision.version, decision.at_commit) == ("noop", "v1.0.0", False)
    assert decision.line() == (
        "flight-delay: no new version (model unchanged since v1.0.0 (md5 aaaaaaaaaaaa))"
    )


def test_a_commit_already_registered_is_a_no_op() -> None:
    decision = decide_register("c1", changed(), [reg("v1.0.0", "c1")], STATE)
    assert (decision.action, decision.version, decision.at_commit) == ("noop", "v1.0.0", True)


def test_the_next_version_bumps_the_highest_not_the_newest() -> None:
    registrations = [reg("v1.10.0", "c2"), reg("v1.9.3", "c3"), reg("v1.2.0", "c1")]
    decision = decide_register("c4", changed(train_start="2013-02"), registrations, STATE)
    assert (decision.action, decision.version) == ("register", "v1.11.0")
    assert decide_register("c4", changed(), registrations, STATE).version == "v1.10.1"
    major = decide_register("c4", changed(features=("carrier",)), registrations, STATE)
    assert major.version == "v2.0.0"


def test_versions_and_image_references_are_checked() -> None:
    assert parse_version("v10.2.0") == (10, 2, 0)
    for bad in ("1.2.0", "v1.2", "v01.2.0", "v1.2.0-rc1"):
        with pytest.raises(ReleaseError):
            parse_version(bad)
    assert check_image(IMAGE) == IMAGE
    for bad in ("ghcr.io/owner/contrail/flight-delay:latest", IMAGE[:-1], IMAGE + " x"):
        with pytest.raises(ReleaseError, match="by digest"):
            check_image(bad)


def record() -> ReleaseRecord:
    return ReleaseRecord(
        artifact="flight-delay",
        version="v1.2.0",
        commit="f" * 40,
        image=IMAGE,
        model_md5="0f7862edea2e7d8f02f328f2df97e2e9",
        train_start="2013-01",
        train_end="2013-05",
        metrics=headline_metrics(evaluation()),
        change="minor: training window 2013-01..2013-04 -> 2013-01..2013-05",
    )


def test_the_tag_message_round_trips() -> None:
    message = record().to_message()
    assert message.splitlines()[0] == (
        "flight-delay v1.2.0: ROC AUC 0.743, PR AUC 0.585, Brier 0.1800; "
        "window 2013-01..2013-05; model md5 0f7862edea2e"
    )
    assert RECORD_MARKER in message
    assert not any(line.startswith("#") for line in message.splitlines())  # git strips those
    parsed = ReleaseRecord.parse(message)
    assert parsed == record()
    assert parsed.image == IMAGE
    assert parsed.model_md5 == "0f7862edea2e7d8f02f328f2df97e2e9"
    assert {"model.roc_auc", "model.pr_auc", "model.brier"} <= set(parsed.metrics)
    # git strips the trailing newline; GTO returns the message as git stores it.
    assert ReleaseRecord.parse(message.strip()) == record()


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("made by hand", "no 'contrail-release/v1:' block"),
        (f"x\n\n{RECORD_MARKER}\n{{not json", "not JSON"),
        (f'x\n\n{RECORD_MARKER}\n{{"version": "v1.0.0"}}', "lacks"),
    ],
)
def test_a_message_without_a_record_is_refused(message: str, problem: str) -> None:
    with pytest.raises(ReleaseError, match=problem):
        ReleaseRecord.parse(message)
    assert reg("v1.0.0", "c1", message).record() is None


REGISTERED = [reg(v, f"c{i}") for i, v in enumerate(["v1.0.0", "v1.1.0", "v1.2.0"])]


def assigned(*versions: str, stage: str = "production", start: int = 1) -> list[Assignment]:
    return [
        Assignment(stage, v, n, f"flight-delay#{stage}#{n}")
        for n, v in enumerate(versions, start=start)
    ]


def test_assigning_the_version_already_in_the_stage_is_a_no_op() -> None:
    decision = decide_assign(
        "staging", "v1.1.0", REGISTERED, assigned("v1.0.0", "v1.1.0", stage="staging")
    )
    assert decision.action == "noop"
    assert decision.line() == "flight-delay v1.1.0: already in staging, no new tag"


def test_a_new_version_is_assigned_and_a_rollback_forces_a_new_tag() -> None:
    history = assigned("v1.0.0", "v1.1.0", stage="staging")
    new = decide_assign("staging", "v1.2.0", REGISTERED, history)
    assert (new.action, new.force, new.reason) == ("assign", False, "replaces v1.1.0")
    back = decide_assign("staging", "v1.0.0", REGISTERED, history)
    assert (back.action, back.force, back.reason) == ("assign", True, "rollback from v1.1.0")
    # Staging's history says nothing about production.
    first = decide_assign("production", "v1.0.0", REGISTERED, history)
    assert (first.action, first.force, first.reason) == (
        "assign",
        False,
        "first version in production",
    )


def test_assign_refuses_unknown_stages_and_versions() -> None:
    with pytest.raises(ReleaseError, match="unknown stage 'prod'"):
        decide_assign("prod", "v1.0.0", REGISTERED, [])
    with pytest.raises(ReleaseError, match=r"v9\.0\.0 is not registered"):
        decide_assign("staging", "v9.0.0", REGISTERED, [])


def test_rollback_goes_to_the_version_before_the_current_one() -> None:
    registered = [r.version for r in REGISTERED]
    history = assigned("v1.0.0", "v1.1.0", "v1.2.0")
    assert rollback_target(history, registered) == "v1.1.0"
    assert rollback_target(list(reversed(history)), registered) == "v1.1.0"  # counter order
    # After a rollback to v1.1.0, the one before is v1.2.0: rolling back undoes the rollback.
    assert rollback_target(assigned("v1.0.0", "v1.1.0", "v1.2.0", "v1.1.0"), registered) == (
        "v1.2.0"
    )
    # Repeated assignments of the current version are skipped.
    history = [*assigned("v1.0.0", "v1.2.0"), *assigned("v1.2.0", start=3)]
    assert rollback_target(history, registered) == "v1.0.0"


def test_rollback_to_a_given_version_and_its_errors() -> None:
    registered = [r.version for r in REGISTERED]
    assert rollback_target(assigned("v1.2.0"), registered, "v1.0.0") == "v1.0.0"
    with pytest.raises(ReleaseError, match=r"v1\.9\.0 is not registered"):
        rollback_target(assigned("v1.2.0"), registered, "v1.9.0")
    with pytest.raises(ReleaseError, match="only version"):
        rollback_target(assigned("v1.2.0", "v1.2.0"), registered)
    with pytest.raises(ReleaseError, match="no version has been assigned"):
        rollback_target([], registered)


def test_the_table_shows_versions_stages_metrics_and_images() -> None:
    registrations = [
        reg("v1.0.0", "1" * 40, "made by hand"),
        reg(
            "v1.1.0",
            "2" * 40,
            ReleaseRecord(
                **{**record().__dict__, "version": "v1.1.0", "image": image(2)}
            ).to_message(),
        ),
    ]
    history = [*assigned("v1.0.0", "v1.1.0", stage="staging"), *assigned("v1.0.0", start=3)]
    lines = release_table(registrations, history).splitlines()
    assert lines[0].split() == [
        "version",
        "stages",
        "commit",
        "ROC",
        "AUC",
        "PR",
        "AUC",
        "Brier",
        "image",
    ]
    assert lines[1].split() == ["v1.1.0", "staging", "2" * 12, "0.743", "0.585", "0.1800", image(2)]
    assert lines[2].split() == ["v1.0.0", "production", "1" * 12, "-", "-", "-", "-"]
    assert release_table([], []) == "flight-delay: no version registered yet"
