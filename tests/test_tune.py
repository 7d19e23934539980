"""layerkit tune: a spec's search: section checked at validate time (located errors, without
TensorFlow), and Optuna studies trained end to end on real CIFAR-10 images — each trial a normal
run, the best values printed as --set options, a study continued to more trials, pruning wired to
each epoch's metric, and the message when Optuna is missing."""

from __future__ import annotations

import io
import json
import re
import sys

import jsonschema
import pytest
import yaml

from layerkit.cli import main
from layerkit.spec.schema import spec_schema

from .conftest import cifar_subset

SPEC = """\
name: tiny
vars:
  width: 8
input: [16, 16, 3]
layers:
  - conv2d: {filters: "${width}", kernel_size: 3, activation: relu}
  - max_pooling2d
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
data:
  source: c200.tar
  resize: true
train:
  optimizer: {adam: {learning_rate: 0.001}}
  batch_size: 32
  epochs: 2
  validation_split: 0.2
search:
  width: {int: [4, 16], step: 4}
  train.optimizer.adam.learning_rate: {float: [0.0001, 0.01], log: true}
  train.label_smoothing: {choice: [0.0, 0.1]}
"""

BAD_SEARCH = """\
name: tiny
vars:
  width: 8
input: [16, 16, 3]
layers:
  - conv2d: {filters: "${width}", kernel_size: 3}
train:
  optimizer: {adam: {learning_rate: 0.001}}
search:
  widht: {int: [8, 16]}
  vars.width: {int: [16, 8]}
  train.optimizer.adam.learnig_rate: {float: [0.001, 0.1]}
  train.optimizer.adam.learning_rate: {float: [0, 0.1], log: true}
  train.batch_size: {choice: []}
  train.seed: {int: [1, 2], step: 0}
  train.label_smoothing: {float: 0.1}
  direction: maximise
  pruner: hyperband
"""

BAD_SEARCH_ERRORS = """\
spec.yaml:10:3: error: search.widht: 'widht' is not a var of the spec. Did you mean 'width'?
spec.yaml:11:21: error: search.vars.width.int: low 16 is above high 8. Swap them: int: [8, 16].
spec.yaml:12:3: error: search.train.optimizer.adam.learnig_rate: 'train.optimizer.adam.learnig_rate' is not a setting the spec writes. Did you mean 'train.optimizer.adam.learning_rate'?
spec.yaml:13:47: error: search.train.optimizer.adam.learning_rate.float: a log range needs low above 0, received 0. Give a positive low, or drop 'log: true'.
spec.yaml:14:30: error: search.train.batch_size.choice: expected a list of at least one value, received an empty list. Write e.g. 'choice: [adam, sgd]'.
spec.yaml:15:35: error: search.train.seed.step: expected a step above 0, received int 0
spec.yaml:16:34: error: search.train.label_smoothing.float: expected [low, high], two numbers, received float 0.1. Write e.g. 'float: [0.0001, 0.1]'.
spec.yaml:17:14: error: search.direction: expected one of maximize, minimize, received the text 'maximise'. Did you mean 'maximize'?
spec.yaml:18:11: error: search.pruner: expected one of median, none, received the text 'hyperband'. Use one of: median, none.
9 problems found.
"""


def run_cli(runner, *args, **kwargs):
    return runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False, **kwargs)


# -- search: checked at validate time ------------------------------------------------------------


def test_every_mistake_of_search_is_reported_at_its_line(runner, tmp_path, monkeypatch):
    (tmp_path / "spec.yaml").write_text(BAD_SEARCH)
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "validate", "spec.yaml")
    assert result.exit_code == 2
    assert result.output == BAD_SEARCH_ERRORS


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("stages: {int: [1, 3]}",
         "spec.yaml:10:3: error: search.stages: 'stages' is not a var of the spec. Name a var (the "
         "spec's: width) or a train: setting such as train.batch_size, or one the spec writes, "
         "such as train.optimizer.adam.learning_rate."),
        ("width: {range: [1, 3]}",
         "spec.yaml:10:10: error: search.width: expected one range: {float: [0.0001, 0.1], log: "
         "true}, {int: [16, 64], step: 16} or {choice: [adam, sgd]}, received a mapping"),
        ("width: {int: [1, 3], log: true, step: 2}",
         "spec.yaml:10:41: error: search.width.step: a log range takes no step"),
        ("width: {choice: [4, [8]]}",
         "spec.yaml:10:23: error: search.width.choice: a choice is a single value (a number, text, "
         "true/false or null), received a list"),
        ("trials: 0",
         "spec.yaml:10:11: error: search.trials: expected a positive integer, received int 0"),
        # the item, not the whole list ("received a list")
        ("train.label_smoothing: {float: [0.0, '0.2']}",
         "spec.yaml:10:40: error: search.train.label_smoothing.float[1]: expected [low, high], two "
         "finite numbers, received the text '0.2' in it. Write e.g. 'float: [0.0001, 0.1]'."),
        ("train.optimizer.adam.learning_rate: {float: [1e-4, 0.1]}",
         "spec.yaml:10:48: error: search.train.optimizer.adam.learning_rate.float[0]: expected "
         "[low, high], two finite numbers, received the text '1e-4' in it. Write it as 1.0e-4: "
         "YAML reads a number with an exponent as text unless it has a decimal point and a signed "
         "exponent."),
        ("width: {int: [4, .inf]}",
         "spec.yaml:10:20: error: search.width.int[1]: expected [low, high], two finite integers, "
         "received float .inf in it. Write e.g. 'int: [16, 64]'."),
    ],
)  # fmt: skip
def test_one_mistake_one_line(runner, tmp_path, monkeypatch, entry, error):
    head = BAD_SEARCH.split("search:")[0]
    (tmp_path / "spec.yaml").write_text(f"{head}search:\n  {entry}\n")
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "validate", "spec.yaml")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == error


def test_a_valid_search_validates_without_tensorflow_and_satisfies_the_schema(runner, tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = run_cli(runner, "validate", tmp_path / "spec.yaml")
    assert result.exit_code == 0, result.output
    validator = jsonschema.Draft7Validator(spec_schema())
    assert list(validator.iter_errors(yaml.safe_load(SPEC))) == []
    typo = yaml.safe_load(SPEC.replace("log: true", "logg: true"))
    assert list(validator.iter_errors(typo)), "a misspelt range key must fail the schema"


def test_a_spec_without_search_is_refused(runner, tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC.split("search:")[0])
    result = run_cli(runner, "tune", tmp_path / "spec.yaml", "--trials", 1)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {tmp_path / 'spec.yaml'} has no search: section;")


def test_a_range_end_the_spec_refuses_is_said_before_any_trial(runner, tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC.replace("{int: [4, 16], step: 4}", "{float: [4, 16]}"))
    result = run_cli(runner, "tune", tmp_path / "spec.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output == (
        f"{tmp_path / 'spec.yaml'}:3:10: error: --set vars.width=4.0: expected an integer like "
        "the spec's 8, received float 4.0. Give an integer.\n"
    )
    assert not (tmp_path / "out").exists()


def test_resume_needs_a_folder_with_a_study(runner, tmp_path):
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = run_cli(runner, "tune", tmp_path / "spec.yaml", "--resume", tmp_path)
    assert result.exit_code == 2
    assert result.output == f"error: '{tmp_path}' holds no study.db: no tune to continue there\n"
    missing = run_cli(runner, "tune", tmp_path / "spec.yaml", "--resume", tmp_path / "nope")
    assert (
        missing.output
        == f"error: '{tmp_path / 'nope'}' does not exist: no tune to continue there\n"
    )
    both = run_cli(runner, "tune", tmp_path / "spec.yaml", "--resume", tmp_path, "--out", tmp_path)
    assert both.output == "error: give --out DIR or --resume DIR, not both\n"


def test_missing_optuna_says_which_extra_to_install(runner, tmp_path, monkeypatch):
    (tmp_path / "spec.yaml").write_text(SPEC)
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    result = run_cli(runner, "tune", tmp_path / "spec.yaml", "--trials", 1)
    assert result.exit_code == 2
    assert result.output == "error: layerkit tune needs optuna: pip install 'layerkit[tune]'\n"


# -- a study, end to end on real images ----------------------------------------------------------

BEST = re.compile(
    r"^best val_accuracy (\d\.\d{4}) \(trial (\d+)\): --set vars\.width=(\d+) "
    r"--set train\.optimizer\.adam\.learning_rate=\S+ --set \+train\.label_smoothing=0\.[01]$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 6-trial tune of a tiny conv net (2 epochs, 16x16 inputs) on 200 real CIFAR-10 images,
    then the same command continued to 8 trials after a killed tune left a trial running."""
    import optuna
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("tune")
    cifar_subset(root / "c200.tar", 20)
    (root / "tiny.yaml").write_text(SPEC)
    env = {"LAYERKIT_CACHE": str(root / "cache")}
    out = root / "tune"
    args = ["tune", str(root / "tiny.yaml"), "--out", str(out), "--plain"]
    first = CliRunner().invoke(main, [*args, "--trials", "6"], env=env, catch_exceptions=False)
    # a tune killed mid-trial leaves its trial running in the study
    stored = optuna.load_study(study_name="tune", storage=f"sqlite:///{out / 'study.db'}")
    stored.ask()
    again = CliRunner().invoke(main, [*args, "--trials", "8", "--json"], env=env,
                               catch_exceptions=False)  # fmt: skip
    return root, first, again


@pytest.mark.slow
def test_a_tune_prints_each_trial_a_table_and_the_best_values(study):
    _, first, _ = study
    assert first.exit_code == 0, first.output
    trial_lines = [line for line in first.stderr.splitlines() if line.startswith("trial ")]
    assert len(trial_lines) == 6
    assert all(re.match(r"trial \d (finished|pruned) after [12] epochs?: val_accuracy", line)
               for line in trial_lines), trial_lines  # fmt: skip
    table = first.stdout.splitlines()
    assert table[0].split() == ["trial", "status", "val_accuracy", "width",
                                "train.optimizer.adam.learning_rate", "train.label_smoothing",
                                "epochs", "run"]  # fmt: skip
    assert len(table) == 8  # header, 6 trials, the best line
    best = BEST.search(first.stdout)
    assert best is not None, first.stdout
    values = [float(row.split()[2]) for row in table[1:7] if row.split()[1] == "finished"]
    assert float(best.group(1)) == max(values)  # the table is sorted by the metric, best first
    assert table[1].split()[0] == best.group(2)


@pytest.mark.slow
def test_each_trial_is_a_normal_run_with_its_values(study, runner, monkeypatch):
    root, first, _ = study
    best = BEST.search(first.stdout)
    run = root / "tune" / f"trial-{int(best.group(2)):03d}"
    header = (run / "spec.yaml").read_text().splitlines()[0]
    assert header.startswith(f"# trained from {root / 'tiny.yaml'} with --set vars.width=")
    assert yaml.safe_load((run / "spec.yaml").read_text())["vars"]["width"] == int(best.group(3))
    monkeypatch.setenv("LAYERKIT_CACHE", str(root / "cache"))
    evaluated = run_cli(runner, "evaluate", run, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert round(json.loads(evaluated.stdout)["accuracy"], 4) == float(best.group(1))


@pytest.mark.slow
def test_the_same_command_continues_the_study(study):
    root, _, again = study
    assert again.exit_code == 0, again.output
    assert (
        f"note: trial 7 was interrupted mid-way (its run is {root / 'tune' / 'trial-007'}); it is "
        "marked failed and a new trial takes its place" in again.stderr
    )
    assert f"continuing the study in {root / 'tune'}: 6 trials done, 2 to run for --trials 8" in (
        again.stderr
    )
    result = json.loads(again.stdout)
    numbers = sorted(trial["number"] for trial in result["trials"])
    assert numbers == list(range(1, 10))
    statuses = {trial["number"]: trial["status"] for trial in result["trials"]}
    assert statuses[7] == "interrupted"
    assert statuses[8] in ("finished", "pruned") and statuses[9] in ("finished", "pruned")
    assert result["new_trials"] == 2
    assert sorted(path.name for path in (root / "tune").glob("trial-*")) == [
        f"trial-{number:03d}" for number in (1, 2, 3, 4, 5, 6, 8, 9)
    ]
    best = result["best"]
    assert best["set"][0] == f"vars.width={best['params']['width']}"


@pytest.mark.slow
def test_a_trial_the_pruner_gives_up_on_stops_after_the_epoch(study):
    """A pruner no trial can satisfy (val_accuracy of 2 or more): every trial is pruned after its
    first epoch, recorded as a run of one epoch, and none is best."""
    import optuna

    from layerkit.tuning.study import TuneOptions, tune

    root, _, _ = study
    lines = []
    result = tune(
        root / "tiny.yaml", TuneOptions(trials=2, out=root / "pruned"), lambda text: None,
        lambda trial, metric: lines.append(trial), pruner=optuna.pruners.ThresholdPruner(lower=2.0),
    )  # fmt: skip
    assert [(trial.status, trial.epochs) for trial in lines] == [("pruned", 1), ("pruned", 1)]
    assert result.best is None
    assert json.loads((root / "pruned" / "trial-001" / "state.json").read_text())["epoch"] == 1
    metrics = json.loads((root / "pruned" / "trial-001" / "metrics.json").read_text())
    assert (metrics["status"], metrics["epochs"]) == ("pruned", 1)


@pytest.mark.slow
def test_the_sampler_is_seeded_so_a_tune_is_reproducible(tmp_path):
    """The same --seed gives the same values; a continued study draws new ones (its sampler is
    seeded with how many trials came before)."""
    from layerkit.spec.loader import load_spec
    from layerkit.tuning.study import import_optuna, open_study, suggest

    (tmp_path / "spec.yaml").write_text(SPEC)
    search = load_spec(tmp_path / "spec.yaml").search
    optuna = import_optuna()

    def draws(out, count):
        study, _ = open_study(optuna, out, "maximize", search, seed=3)
        values = []
        for _ in range(count):
            trial = study.ask()
            values.append([suggest(trial, dimension) for dimension in search.dimensions])
            study.tell(trial, 0.5)
        return values

    first = draws(tmp_path / "a", 3)
    assert first == draws(tmp_path / "b", 3)
    assert draws(tmp_path / "a", 3) != first  # continued: trials 4-6 are not trials 1-3 again


@pytest.mark.slow
def test_ctrl_c_marks_the_trial_interrupted_and_it_does_not_count(study):
    """Ctrl-C during a trial (here: raised when the pruner is asked after epoch 1) ends the tune
    with the trial interrupted, its run keeping the finished epoch; it does not count towards
    --trials, so the same command runs a trial in its place."""
    import optuna

    from layerkit.tuning.study import TuneOptions, counted, tune

    class CtrlC(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            raise KeyboardInterrupt

    root, _, _ = study
    out = root / "stopped"
    result = tune(root / "tiny.yaml", TuneOptions(trials=1, out=out), lambda text: None,
                  lambda trial, metric: None, pruner=CtrlC())  # fmt: skip
    assert result.interrupted
    assert [(trial.status, trial.epochs) for trial in result.trials] == [("interrupted", 1)]
    assert json.loads((out / "trial-001" / "state.json").read_text())["epoch"] == 1
    stored = optuna.load_study(study_name="stopped", storage=f"sqlite:///{out / 'study.db'}")
    assert counted(stored) == 0


def test_trials_are_ranked_by_the_metric_and_a_run_stopped_early_can_be_best(tmp_path):
    from layerkit.tuning.study import TrialRecord, TuneResult, best_line

    def trial(number, status, value):
        return TrialRecord(number, status, value, {"width": number}, (f"vars.width={number}",),
                           None, 2)  # fmt: skip

    trials = (trial(1, "finished", 0.3), trial(2, "pruned", 0.9), trial(3, "failed", None),
              trial(4, "stopped early", 0.5), trial(5, "reached target", 0.4))  # fmt: skip
    result = TuneResult(tmp_path, "tiny", "val_accuracy", "maximize", trials, 5)
    assert [t.number for t in result.ranked] == [4, 5, 1, 2, 3]
    assert best_line(result) == "best val_accuracy 0.5000 (trial 4): --set vars.width=4"
    losses = TuneResult(tmp_path, "tiny", "val_loss", "minimize", trials, 5)
    assert [t.number for t in losses.ranked] == [1, 5, 4, 2, 3]


@pytest.mark.slow
def test_a_study_continues_only_as_it_was_made(study, runner):
    """The study records the spec and the options it was made with: continuing it with another
    --epochs or an edited spec is refused (its table would mix two searches), and nothing runs."""
    root, _, _ = study
    trials = sorted(path.name for path in (root / "tune").glob("trial-*"))
    args = ("tune", root / "tiny.yaml", "--out", root / "tune", "--trials", 12)
    result = run_cli(runner, *args, "--epochs", 1, env={"LAYERKIT_CACHE": str(root / "cache")})
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"error: the study in '{root / 'tune'}' was made with another --epochs (none then): its "
        "trials would not compare with new ones; continue it as it was made, or tune into a new "
        "--out\n"
    )
    edited = root / "edited.yaml"
    edited.write_text(SPEC.replace("kernel_size: 3", "kernel_size: 5"))
    result = run_cli(runner, "tune", edited, "--out", root / "tune", "--trials", 12)
    assert result.exit_code == 2
    assert "was made with another the spec (edited, or another one):" in result.stderr
    assert sorted(path.name for path in (root / "tune").glob("trial-*")) == trials


def test_epochs_searched_and_given_is_refused(runner, tmp_path):
    spec = SPEC.replace("search:\n", "search:\n  train.epochs: {int: [1, 2]}\n")
    (tmp_path / "spec.yaml").write_text(spec)
    result = run_cli(runner, "tune", tmp_path / "spec.yaml", "--epochs", 1, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert result.output == (
        "error: search: varies train.epochs, which --epochs would set the same in every trial; "
        "drop --epochs, or train.epochs from search:\n"
    )


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("metric: val_acc", "spec.yaml:11:11: error: search.metric: search.metric names "
         "'val_acc', which this run does not measure. Did you mean 'val_accuracy'?"),
        ("{metric: val_loss, direction: maximize}", "spec.yaml:12:14: error: search.direction: "
         "maximize would take the trial with the highest val_loss as the best. Remove direction "
         "(val_loss is minimized), or write 'direction: minimize'."),
        ("direction: minimize", "spec.yaml:11:14: error: search.direction: minimize would take "
         "the trial with the lowest val_accuracy as the best. Remove direction (val_accuracy is "
         "maximized), or write 'direction: maximize'."),
    ],
)  # fmt: skip
def test_the_metric_and_its_direction_are_checked_at_their_line(runner, tmp_path, monkeypatch,
                                                                entry, error):  # fmt: skip
    head = BAD_SEARCH.split("search:")[0]
    settings = entry[1:-1].replace(", ", "\n  ") if entry.startswith("{") else entry
    text = f"{head}search:\n  width: {{int: [4, 8]}}\n  {settings}\n"
    (tmp_path / "spec.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    result = run_cli(runner, "validate", "spec.yaml")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == error


@pytest.mark.parametrize("width", [60, 80])
def test_a_narrow_terminal_keeps_the_table_values_whole(tmp_path, width, monkeypatch, capsys):
    """The rich table folds the long headers, never a value (it wrapped 0.116 / 7); where even
    the values do not fit, the trials are plain lines."""
    from rich.console import Console

    from layerkit.console import tuning
    from layerkit.tuning.study import TrialRecord, TuneResult

    params = {"width": 12, "train.optimizer.adam.learning_rate": 0.004326}
    trials = tuple(
        TrialRecord(number, "finished", 0.1167, params, (), f"{tmp_path}/trial-{number:03d}", 2)
        for number in (1, 2)
    )
    result = TuneResult(tmp_path, "tiny", "val_accuracy", "maximize", trials, 2)
    console = Console(file=io.StringIO(), width=width, force_terminal=True)
    monkeypatch.setattr(tuning, "make_console", lambda plain: console)
    tuning.print_tune(result, plain=False, json_output=False)
    text = console.file.getvalue() + capsys.readouterr().out
    assert ("┃" in text) == (width == 80)  # the table where it fits, else plain lines
    for value in ("0.1167", "0.004326", "trial-001", "trial-002"):
        assert value in text, text
