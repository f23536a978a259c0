"""`contrail release ...` on a temporary git repository with GTO tags and a bare origin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.release_repo import IMAGE, PipelineRepo, image
from typer.testing import CliRunner

from contrail.cli import app
from contrail.release.versions import ReleaseRecord

runner = CliRunner()
GTO = str(Path(sys.executable).parent / "gto")


def contrail(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output.strip()


def register(n: int, *extra: str) -> str:
    return contrail("release", "register", "--image-digest", image(n), "--push", *extra)


def check_ref(tag: str) -> dict[str, str]:
    done = subprocess.run([GTO, "check-ref", tag, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    found: dict[str, str] = json.loads(done.stdout)
    return found


def test_versions_follow_the_bump_rule_and_reruns_are_no_ops(repo: PipelineRepo) -> None:
    first = repo.commit("1" * 32)
    assert register(1) == "flight-delay v1.0.0: new version (first: first version)"
    assert repo.origin_tags() == {"flight-delay@v1.0.0"}

    # The tag is annotated, on the commit, and its message is the record.
    tag = check_ref("flight-delay@v1.0.0")
    assert (tag["commit_hexsha"], tag["event"], tag["version"]) == (first, "registration", "v1.0.0")
    record = ReleaseRecord.parse(tag["message"])
    assert (record.image, record.model_md5, record.commit) == (image(1), "1" * 32, first)
    assert (record.train_start, record.train_end) == ("2013-01", "2013-05")
    assert record.metrics["model.roc_auc"] == 0.743
    assert record.metrics["model.brier"] == 0.18
    assert repo.git("cat-file", "-t", "flight-delay@v1.0.0") == "tag"

    # The same workflow again on the same commit: nothing new, exit 0.
    assert register(1) == f"flight-delay: no new version (commit {first[:12]} is already v1.0.0)"
    # A merge that leaves the model byte-identical: no version.
    repo.commit("1" * 32, roc_auc=0.75, message="docs")
    assert register(2) == (
        "flight-delay: no new version (model unchanged since v1.0.0 (md5 111111111111))"
    )

    window = ("2013-02", "2013-06")
    repo.commit("2" * 32, window=window)
    assert register(3).startswith("flight-delay v1.1.0: new version (minor: training window")
    repo.commit("3" * 32, window=window)
    assert register(4) == (
        "flight-delay v1.1.1: new version (patch: model retrained (hyperparameters or code))"
    )
    repo.commit("4" * 32, window=window, features=("carrier", "origin", "distance"))
    assert (
        register(5) == "flight-delay v2.0.0: new version (major: feature list changed (-dep_hour))"
    )
    repo.commit(
        "5" * 32, window=window, features=("carrier", "origin", "distance"), data_md5="e" * 32
    )
    assert register(6, "--dry-run") == (
        "flight-delay v2.1.0: new version (minor: training data changed) [dry run]"
    )
    assert "flight-delay@v2.1.0" not in repo.tags()
    assert repo.origin_tags() == {
        "flight-delay@v1.0.0", "flight-delay@v1.1.0", "flight-delay@v1.1.1", "flight-delay@v2.0.0"
    }  # fmt: skip


def test_a_rerun_pushes_the_tag_a_failed_run_left_unpushed(repo: PipelineRepo) -> None:
    repo.commit("1" * 32)
    contrail("release", "register", "--image-digest", IMAGE)
    assert repo.origin_tags() == set()
    assert "already v1.0.0" in register(1)
    assert repo.origin_tags() == {"flight-delay@v1.0.0"}


def test_assign_list_and_rollback(repo: PipelineRepo) -> None:
    for n in (1, 2, 3):
        repo.commit(str(n) * 32)
        register(n)
    assert contrail("release", "assign", "--stage", "staging", "--version", "v1.0.0", "--push") == (
        "flight-delay v1.0.0 -> staging (first version in staging): flight-delay#staging#1"
    )
    contrail("release", "assign", "--stage", "staging", "--version", "v1.0.1", "--push")
    contrail("release", "assign", "--stage", "production", "--version", "v1.0.1", "--push")
    # The deploy workflow run again: no new tag.
    assert contrail("release", "assign", "--stage", "production", "--version", "v1.0.1") == (
        "flight-delay v1.0.1: already in production, no new tag"
    )
    contrail("release", "assign", "--stage", "production", "--version", "v1.0.2", "--push")
    assert contrail("release", "rollback-target", "--stage", "production") == f"v1.0.1 {image(2)}"
    assert contrail("release", "rollback-target", "--stage", "staging") == f"v1.0.0 {image(1)}"
    assert (
        contrail("release", "rollback-target", "--stage", "production", "--version", "v1.0.0")
        == f"v1.0.0 {image(1)}"
    )

    # The rollback is a new assignment tag (GTO needs --force: v1.0.1 held production before).
    assert contrail(
        "release", "assign", "--stage", "production", "--version", "v1.0.1", "--push"
    ) == ("flight-delay v1.0.1 -> production (rollback from v1.0.2): flight-delay#production#5")
    assert check_ref("flight-delay#production#5")["version"] == "v1.0.1"
    assert {"flight-delay#production#3", "flight-delay#production#5"} <= repo.origin_tags()
    assert contrail("release", "rollback-target", "--stage", "production") == f"v1.0.2 {image(3)}"

    table = contrail("release", "list")
    assert table == contrail("releases")
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows["v1.0.2"][1:2] == ["-"] and rows["v1.0.2"][-1] == image(3)
    assert rows["v1.0.1"][1] == "staging,production" and rows["v1.0.1"][-1] == image(2)
    assert rows["v1.0.0"][1] == "-" and rows["v1.0.0"][3:6] == ["0.743", "0.585", "0.1800"]


def test_one_line_errors(repo: PipelineRepo) -> None:
    assert contrail(
        "release", "register", "--image-digest", "ghcr.io/o/r:latest", code=1
    ).startswith("contrail release register: --image-digest must name the image by digest")
    assert contrail("release", "register", "--image-digest", IMAGE, code=1) == (
        "contrail release register: unknown revision 'HEAD'"
    )
    repo.commit("1" * 32)
    register(1)
    assert contrail("release", "assign", "--stage", "prod", "--version", "v1.0.0", code=1) == (
        "contrail release assign: unknown stage 'prod': the stages are staging, production"
    )
    assert contrail("release", "assign", "--stage", "staging", "--version", "v2.0.0", code=1) == (
        "contrail release assign: flight-delay v2.0.0 is not registered"
    )
    assert contrail("release", "rollback-target", "--stage", "staging", code=1) == (
        "contrail release rollback-target: no version has been assigned to this stage yet"
    )


def test_gto_itself_refuses_other_stages(repo: PipelineRepo) -> None:
    repo.commit("1" * 32)
    register(1)
    done = subprocess.run(
        [GTO, "assign", "flight-delay", "--version", "v1.0.0", "--stage", "prod"],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Allowed stages are" in done.stderr + done.stdout
