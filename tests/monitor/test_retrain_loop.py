"""The scheduled retraining loop end to end: monitor.yml's commands, run as the workflow runs
them, on a throwaway pipeline repository with a bare `origin` and a fake GitHub.

The repository is tests/e2e's pipeline (a Jan-Mar window on a sample of the real flights,
Jan-Jun in data/source/). Its production data is a feed brought in with `dvc import-url` and
refreshed by `dvc update` (the Makefile's update-imports), checked with `monitor.clock: latest`:
the newest month in the feed is "now". That is how a month passes in a real deployment: the
feed gains it, main does not move. The default `clock: simulated` ties "now" to main's
data.end, which only a merged PR moves, and a merged PR is not open to be superseded.
(Simplification: the training source already holds the month after each production month,
which ingest needs as its "current" month; a real source would not have it yet.)
The tests run in file order on one repository:

1. the feed holds April: the job opens the retraining PR for April and dispatches its report;
2. the job runs again with no new data: nothing is pushed, sent or dispatched;
3. May arrives in the feed while the April PR is still open: the job opens the May PR and
   closes the April one with a link to it.

Expected values come from the data and plain git, never from contrail: the months are counted
here, and what `origin` holds is read with `git show` on the bare repository.

The fake GitHub (tests/support/fake_github.py) answers 422 to a PR or a dispatch for a branch
that is not on origin yet, and to a second open PR for one branch, as GitHub does. The first tests here
(not e2e) check the params edit the retraining commit makes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from subprocess import CompletedProcess

import pandas as pd
import pytest
import yaml
from support.fake_github import FakeGitHub
from support.pipeline_repo import reproduced_repo, run

from contrail.monitor.retrain import move_window

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_MONTH = 3000
# The production feed: a file outside the repository that gains a month at a time, imported
# with `dvc import-url` and refreshed with `dvc update` (the Makefile's update-imports).
FEED_IMPORT = Path("data/production/flights.csv")
REPORT_WORKFLOW = "pr-report.yml"


def month_of(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def add_months(month: str, count: int) -> str:
    year, number = map(int, month.split("-"))
    total = year * 12 + number - 1 + count
    return month_of(total // 12, total % 12 + 1)


def months_between(start: str, end: str) -> int:
    (y0, m0), (y1, m1) = (map(int, m.split("-")) for m in (start, end))
    return (y1 - y0) * 12 + m1 - m0


def newest_month(table: pd.DataFrame) -> str:
    newest = table[["year", "month"]].drop_duplicates().sort_values(["year", "month"]).iloc[-1]
    return month_of(int(newest["year"]), int(newest["month"]))


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# -- the params edit ---------------------------------------------------------------------------


def test_move_window_changes_only_the_two_values_of_the_real_params_file(tmp_path):
    original = (REPO_ROOT / "params.yaml").read_text()
    edited = tmp_path / "params.yaml"
    edited.write_text(original)

    move_window(edited, "2013-02", "2013-07")

    before, after = original.split("\n"), edited.read_text().split("\n")
    assert len(after) == len(before)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [
        (f'  start: "{start_of(original)}"', '  start: "2013-02"'),
        (f'  end: "{end_of(original)}"', '  end: "2013-07"'),
    ]


def start_of(text: str) -> str:
    return yaml.safe_load(text)["data"]["start"]


def end_of(text: str) -> str:
    return yaml.safe_load(text)["data"]["end"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            "data:\n  source: x\n  start: 2013-01  # plain\n  end: 2013-06\nend: 2013-06\n",
            "data:\n  source: x\n  start: 2013-02  # plain\n  end: 2013-07\nend: 2013-06\n",
        ),
        (
            "# top\ndata:\n  end: '2013-06'\n  start: '2013-01'\nmonitor: {outcomes: null}\n",
            "# top\ndata:\n  end: '2013-07'\n  start: '2013-02'\nmonitor: {outcomes: null}\n",
        ),
        (
            'data: {source: x, start: "2013-01", end: 2013-06}\nnumbers: [1,\n  2]\n',
            'data: {source: x, start: "2013-02", end: 2013-07}\nnumbers: [1,\n  2]\n',
        ),
    ],
    ids=["plain-with-comment", "single-quoted", "flow-mapping"],
)
def test_move_window_keeps_the_style_of_each_value(tmp_path, before, after):
    path = tmp_path / "params.yaml"
    path.write_text(before)
    move_window(path, "2013-02", "2013-07")
    assert path.read_text() == after


# -- the fake GitHub and a failing publish -------------------------------------------------------


def test_publish_exits_2_with_one_line_when_github_refuses(tmp_path):
    """The prepared branch never reached origin (pushed only when changed; deleted since) and
    its PR is gone: GitHub refuses the PR, the CLI says so in one line, no traceback."""
    repo, origin = tmp_path / "repo", tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", str(origin))
    run(tmp_path, "git", "init", "-q", "-b", "main", str(repo))
    (repo / "dvc.yaml").write_text("artifacts:\n  flight-delay:\n    path: models/model.joblib\n")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "main")
    run(repo, "git", "remote", "add", "origin", str(origin))
    (repo / "reports").mkdir()
    state = {"branch": "retrain/flight-delay-2013-07", "title": "Retrain"}
    (repo / "reports/retrain.json").write_text(
        json.dumps({**state, "changed": False, "came_from": "main"})
    )
    (repo / "reports/retrain_pr.md").write_text("body\n")
    with FakeGitHub(origin=origin) as fake:
        done = run(repo, "contrail", "retrain", "publish", env=fake.env(), check=False)
        assert [(c.method, c.path) for c in fake.calls] == [("GET", "pulls"), ("POST", "pulls")]
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "contrail retrain publish failed: POST pulls: HTTP 422 Unprocessable Entity"
    ]


def test_publish_of_a_record_prepare_did_not_write_exits_1_naming_it_and_calls_nothing(tmp_path):
    repo, origin = tmp_path / "repo", tmp_path / "origin.git"
    run(tmp_path, "git", "init", "-q", "--bare", str(origin))
    (repo / "reports").mkdir(parents=True)
    # An older prepare's record: no `came_from`.
    record = {"branch": "retrain/flight-delay-2013-07", "title": "Retrain", "changed": True}
    (repo / "reports/retrain.json").write_text(json.dumps(record))
    with FakeGitHub(origin=origin) as fake:
        done = run(repo, "contrail", "retrain", "publish", env=fake.env(), check=False)
        assert fake.calls == []
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "reports/retrain.json" in line and "contrail retrain prepare" in line


# -- the repository, its origin and the fake GitHub -----------------------------------------


@dataclass
class Loop:
    repo: Path
    origin: Path
    feed: Path
    sample: pd.DataFrame
    github: FakeGitHub
    artifact: str
    # main's window, as committed before any job ran.
    start: str
    end: str

    def origin_git(self, *args: str) -> str:
        return run(self.repo, "git", "--git-dir", str(self.origin), *args).stdout

    def origin_sha(self, branch: str) -> str | None:
        done = run(
            self.repo, "git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
            f"refs/heads/{branch}", check=False,
        )  # fmt: skip
        return done.stdout.strip() or None

    def origin_file(self, branch: str, path: str) -> str:
        return self.origin_git("show", f"refs/heads/{branch}:{path}")

    def expected(self, target: str) -> tuple[str, str, str]:
        """(branch, start, end) of the retraining PR for `target`: the sliding window keeps
        main's length and ends at the production month."""
        start = add_months(target, -months_between(self.start, self.end))
        return f"retrain/{self.artifact}-{target}", start, target

    def publish_feed(self, months: list[int]) -> None:
        """The production system's export: every flight of these months so far."""
        self.sample[self.sample["month"].isin(months)].to_csv(self.feed, index=False)


@pytest.fixture(scope="module")
def loop(tmp_path_factory, nycflights) -> Iterator[Loop]:
    """main: the pipeline reproduced on Jan-Mar, the production feed imported, monitored with
    `clock: latest` and a one-month age limit; pushed to a bare origin; a fake GitHub."""
    sample = (
        nycflights[nycflights["month"] <= 6]
        .groupby("month", group_keys=False)
        .sample(ROWS_PER_MONTH, random_state=0)
        .sort_values("time_hour", kind="stable")
        .reset_index(drop=True)
    )
    root = tmp_path_factory.mktemp("retrain-loop")
    (root / "repo").mkdir()
    # The project's .gitignore too: the monitor's reports are never committed.
    repo = reproduced_repo(root / "repo", sample, extra_files=(".gitignore",))
    feed = root / "feed/flights.csv"
    feed.parent.mkdir()
    origin = root / "origin.git"
    run(root, "git", "init", "-q", "--bare", str(origin))
    artifact = next(iter(yaml.safe_load((repo / "dvc.yaml").read_text())["artifacts"]))
    main_window = yaml.safe_load((repo / "params.yaml").read_text())["data"]
    with FakeGitHub(origin=origin) as github:
        loop = Loop(
            repo, origin, feed, sample, github, artifact, main_window["start"], main_window["end"]
        )
        loop.publish_feed([4])
        (repo / FEED_IMPORT).parent.mkdir(parents=True)
        run(repo, "dvc", "import-url", "-q", str(feed), str(FEED_IMPORT))
        params_file = repo / "params.yaml"
        params = yaml.safe_load(params_file.read_text())
        params["monitor"].update(source=str(FEED_IMPORT), clock="latest")
        # The policy is tested elsewhere; here every month the model is older than one month
        # retrains, so the loop's mechanics do not hang on the sample's AUC.
        params["retrain"]["max_age_months"] = 1
        # A comment the retraining PR's params edit must keep.
        params_file.write_text(
            "# Kept by the retraining PR.\n" + yaml.safe_dump(params, sort_keys=False)
        )
        run(repo, "dvc", "repro")  # check-params only: no other stage reads these keys
        run(repo, "git", "add", "-A")
        run(repo, "git", "commit", "-qm", "Monitor the production feed")
        run(repo, "git", "remote", "add", "origin", str(origin))
        run(repo, "git", "push", "-q", "origin", "main")
        yield loop


# -- the scheduled job ------------------------------------------------------------------------


@dataclass
class Job:
    steps: dict[str, CompletedProcess[str]]
    outputs: dict[str, str]

    def stdout(self, step: str) -> str:
        return self.steps[step].stdout


def scheduled_job(loop: Loop) -> Job:
    """monitor.yml on a fresh checkout of main, its make targets spelt out: restore main's
    outputs, read the history, refresh the imports and check, record the history; on
    "retrain: yes", refresh the imports again, prepare the branch and publish it."""
    repo = loop.repo
    outputs_file = repo.parent / "github_output"
    outputs_file.write_text("")
    env = {
        **loop.github.env(),
        "GITHUB_OUTPUT": str(outputs_file),
        "GITHUB_STEP_SUMMARY": str(repo.parent / "step_summary.md"),
        "CONTRAIL_DISPATCH_REPORT": "true",  # no REPO_TOKEN secret: dispatch the report
        "DVC_NO_ANALYTICS": "1",
        "OMP_NUM_THREADS": "2",
    }
    imports = f"{FEED_IMPORT}.dvc"
    steps: dict[str, CompletedProcess[str]] = {}

    def step(name: str, *args: str) -> None:
        done = run(repo, *args, env=env, check=False)
        steps[name] = done
        assert "Traceback" not in done.stderr, f"{name}:\n{done.stderr}"
        assert done.returncode == 0, (
            f"{name} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )

    step("checkout", "git", "checkout", "-q", "main")
    step("restore-outputs", "dvc", "checkout")
    step("history pull", "contrail", "history", "pull")
    step("monitor: update-imports", "dvc", "update", "-q", imports)
    step("monitor", "contrail", "monitor")
    step("history push", "contrail", "history", "push")
    if "retrain=true" in outputs_file.read_text().splitlines():
        step("retrain: update-imports", "dvc", "update", "-q", imports)
        step("retrain prepare", "contrail", "retrain", "prepare")
        step("retrain publish", "contrail", "retrain", "publish", "--base", "main")
    outputs = dict(line.split("=", 1) for line in outputs_file.read_text().splitlines())
    return Job(steps, outputs)


# -- what a retraining branch on origin must hold ---------------------------------------------


def locked_window(lock: dict, stage: str) -> tuple[str | None, str | None]:
    """data.start/data.end as dvc.lock records them for `stage` (nested or dotted keys)."""
    params = lock["stages"][stage]["params"]["params.yaml"]
    data = params.get("data", {})
    return data.get("start", params.get("data.start")), data.get("end", params.get("data.end"))


def assert_retraining_branch(loop: Loop, branch: str, start: str, end: str) -> None:
    main_params = yaml.safe_load(loop.origin_file("main", "params.yaml"))
    params_text = loop.origin_file(branch, "params.yaml")
    params = yaml.safe_load(params_text)
    assert (params["data"]["start"], params["data"]["end"]) == (start, end)
    # Only the window moved; the comment and every other value are as on main.
    assert params_text.startswith("# Kept by the retraining PR.\n")
    main_params["data"].update(start=start, end=end)
    assert params == main_params
    changed = loop.origin_git("diff", "--numstat", "refs/heads/main", f"refs/heads/{branch}",
                              "--", "params.yaml")  # fmt: skip
    assert changed.split()[:2] == ["2", "2"], changed

    lock = yaml.safe_load(loop.origin_file(branch, "dvc.lock"))
    for stage in ("ingest", "train"):
        assert locked_window(lock, stage) == (start, end), stage
    assert locked_window(lock, "features")[1] == end
    # The model was retrained on the window (its card is committed to git).
    card = yaml.safe_load(loop.origin_file(branch, "models/model.json"))
    assert (card["train_start"], card["train_end"]) == (start, add_months(end, -1))
    # One commit on top of main as it is on origin.
    parent = loop.origin_git("rev-parse", f"refs/heads/{branch}^").strip()
    assert parent == loop.origin_sha("main")


def history_rows(loop: Loop) -> pd.DataFrame:
    return pd.read_csv(StringIO(loop.origin_file("monitor-history", "history.csv")))


# -- the tests, in order ----------------------------------------------------------------------


@pytest.mark.e2e
def test_first_run_opens_one_retraining_pr_and_dispatches_its_report(loop):
    target = newest_month(pd.read_csv(loop.feed))
    branch, start, end = loop.expected(target)
    main_before = loop.origin_sha("main")

    job = scheduled_job(loop)

    assert job.stdout("monitor").splitlines()[-1].startswith("retrain: yes — ")
    assert job.outputs["retrain"] == "true" and job.outputs["month"] == target
    assert job.outputs["prepared"] == "true" and job.outputs["changed"] == "true"
    # The job checked out main; the workspace is left on the branch, and says so.
    assert job.stdout("retrain prepare").splitlines()[-2:] == [
        f"you are now on branch {branch}, with the retrained model and its outputs",
        "to go back: git checkout main && dvc checkout",
    ]
    assert run(loop.repo, "git", "branch", "--show-current").stdout.strip() == branch
    github = loop.github
    assert [(c.method, c.path) for c in github.calls] == [
        ("GET", "pulls"),
        ("POST", "pulls"),
        ("POST", "issues/1/labels"),
        ("POST", f"actions/workflows/{REPORT_WORKFLOW}/dispatches"),
    ]
    assert all(c.status < 300 for c in github.calls)
    assert github.calls[0].query == {"state": "open", "per_page": "100"}
    (pull,) = github.open_pulls()
    assert (pull.head, pull.base, pull.labels) == (branch, "main", ["retrain"])
    assert f"{start}..{end}" in pull.title
    assert pull.body == (loop.repo / "reports/retrain_pr.md").read_text()
    assert github.dispatches == [
        {"workflow": REPORT_WORKFLOW, "ref": branch, "inputs": {"base": "main"}}
    ]

    assert_retraining_branch(loop, branch, start, end)
    assert loop.origin_sha("main") == main_before  # the bot never pushes to main
    assert list(history_rows(loop)["month"]) == [target]


@pytest.mark.e2e
def test_a_rerun_without_new_data_pushes_sends_and_dispatches_nothing(loop):
    github = loop.github
    (pull,) = github.open_pulls()
    branches = {b: loop.origin_sha(b) for b in ("main", pull.head, "monitor-history")}
    calls_before = len(github.calls)

    job = scheduled_job(loop)

    assert job.outputs["retrain"] == "true"  # the same month, the same verdict ...
    assert job.outputs["changed"] == "false"  # ... the same bytes
    new_calls = github.calls[calls_before:]
    assert [(c.method, c.path) for c in new_calls] == [("GET", "pulls")]
    assert {b: loop.origin_sha(b) for b in branches} == branches
    assert github.open_pulls() == [pull]
    assert len(github.dispatches) == 1
    assert "monitor-history: unchanged" in job.stdout("history push")
    assert list(history_rows(loop)["month"]) == [newest_month(pd.read_csv(loop.feed))]


@pytest.mark.e2e
def test_a_new_production_month_opens_a_new_pr_and_closes_the_old_one(loop):
    github = loop.github
    (old,) = github.open_pulls()
    old_sha = loop.origin_sha(old.head)
    calls_before = len(github.calls)
    # A month passes and the production system exports it: the feed gains May. Nothing is
    # committed to main (the April PR was not merged); the job's `dvc update` brings it.
    loop.publish_feed([4, 5])
    target = newest_month(pd.read_csv(loop.feed))
    branch, start, end = loop.expected(target)
    assert branch != old.head

    job = scheduled_job(loop)

    assert job.outputs["retrain"] == "true" and job.outputs["month"] == target
    assert job.outputs["changed"] == "true"
    new_calls = github.calls[calls_before:]
    (new,) = github.open_pulls()
    assert [(c.method, c.path) for c in new_calls] == [
        ("GET", "pulls"),
        ("POST", "pulls"),
        ("POST", f"issues/{new.number}/labels"),
        ("POST", f"issues/{old.number}/comments"),
        ("PATCH", f"pulls/{old.number}"),
        ("POST", f"actions/workflows/{REPORT_WORKFLOW}/dispatches"),
    ]
    assert all(c.status < 300 for c in new_calls)
    assert (new.head, new.base, new.labels) == (branch, "main", ["retrain"])
    assert f"{start}..{end}" in new.title
    assert new.body == (loop.repo / "reports/retrain_pr.md").read_text()
    closed = github.pulls[old.number]
    assert closed.state == "closed"
    (comment,) = closed.comments
    assert f"#{new.number}" in comment and github.html_url(new.number) in comment
    assert github.dispatches[-1] == {
        "workflow": REPORT_WORKFLOW,
        "ref": branch,
        "inputs": {"base": "main"},
    }
    assert len(github.dispatches) == 2

    assert_retraining_branch(loop, branch, start, end)
    # The PR records which production data it answered: the refreshed import pointer.
    pointer = yaml.safe_load(loop.origin_file(branch, f"{FEED_IMPORT}.dvc"))
    assert pointer["deps"][0]["md5"] == md5(loop.feed)
    assert loop.origin_sha(old.head) == old_sha  # the superseded branch is left as it was
    assert list(history_rows(loop)["month"]) == [add_months(target, -1), target]
