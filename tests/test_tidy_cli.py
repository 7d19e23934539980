"""The command line's rough edges, smoothed (issue 18, item 6): narrow terminals keep every
column, one ``error: `` prefix, results on stdout and messages on stderr for every command,
``predict --json`` one object as its help says, plurals, and shell completion for bash and zsh
through click's own completion code."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile

import pytest
from rich.console import Console

from layerkit import build, load_spec, summarize
from layerkit.cli import main
from layerkit.model.render import render_table, theme

from .conftest import EXAMPLES, SMALL, SPECS, cifar_subset

# -- narrow terminals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_summary():
    spec = load_spec(SPECS / "cifar.yaml")
    return summarize(build(spec), spec)


def layer_column(text: str) -> str:
    """The Layer column's text, from the header's position to the next column's, spaces out."""
    lines = text.splitlines()
    header = next(line for line in lines if re.search(r"#\s+Layer", line))
    start = header.index("Layer")
    end = re.compile(r"\S").search(header, start + len("Layer ") + 1).start()  # the next column
    rule = lines.index(header) + 1
    return "".join(line[start:end].replace(" ", "") for line in lines[rule + 1 :])


@pytest.mark.parametrize("width", [80, 60])
def test_a_narrow_terminal_stacks_type_and_line_under_the_name(cifar_summary, width):
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=True, color_system=None,
                      theme=theme())  # fmt: skip
    console.print(render_table(cifar_summary, console.width))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    column = layer_column(text)
    for row in cifar_summary.rows:  # every name, type and line, wrapped but whole
        assert f"{row.name}{row.type},line{row.location.line}" in column, row.name
        assert f"{row.params:,}" in text
    assert "✓ cifar10_cnn: all 28 expectations match" in text


def test_a_wide_terminal_keeps_the_columns_side_by_side(cifar_summary):
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, force_terminal=True, color_system=None,
                      theme=theme())  # fmt: skip
    console.print(render_table(cifar_summary, console.width))
    header = next(line for line in buffer.getvalue().splitlines() if "Layer" in line)
    assert header.split() == ["#", "Layer", "Type", "Output", "shape", "Params", "Expected",
                              "FLOPs", "Line"]  # fmt: skip


# -- one error prefix ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],  # a missing argument
        ["validate", str(SPECS / "cifar.yaml"), "--bogus"],  # an unknown option
        ["--bogus"],  # an unknown option of the group
        ["buidl"],  # an unknown command
        ["evaluate", "x.keras", "--tta", "spin"],  # a value not among the choices
        ["predict", "x.keras", "a.jpg", "--top", "0"],  # a value out of range
        ["train", "--resume", "no_such_run"],  # a folder that is not there
        ["graph", str(SPECS / "cifar.yaml"), "-o", "x.pdf"],  # layerkit's own refusal
        ["validate", "no_such_spec.yaml"],
        ["export", "latest"],  # a missing option with choices (click lists them on lines)
    ],
    ids=lambda args: " ".join(args).replace(str(SPECS), "specs"),
)
def test_every_error_is_one_line_with_one_prefix(runner, args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, args, prog_name="layerkit")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Error" not in result.stderr


def test_a_usage_error_names_the_usage_and_the_help(runner):
    result = runner.invoke(main, ["build"], prog_name="layerkit")
    assert result.stderr == (
        "error: Missing argument 'SPEC'. (usage: layerkit build [OPTIONS] SPEC; more: "
        "layerkit build --help)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--json"], "Missing argument 'SPEC'."),
        (["train", "--resume", "latest", "--json"], "'latest': there is no folder 'runs' to take "
         "the latest run from; train a run first (layerkit train SPEC), or give the run's folder"),
        (["tune", "x.yaml", "--out", "a", "--resume", "b", "--json"],
         "give --out DIR or --resume DIR, not both"),
        (["export", "latest", "--json"],
         "Missing option '--format'. Choose from: savedmodel, onnx, tflite"),
    ],
)  # fmt: skip
def test_with_json_every_error_is_the_json_object_on_stdout(runner, args, message, tmp_path,
                                                           monkeypatch):  # fmt: skip
    """A command line that asks for --json gets its error as JSON, also one found while its
    options are read or raised by the command itself."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, args, prog_name="layerkit")
    assert (result.exit_code, result.stderr) == (2, "")
    assert json.loads(result.stdout) == {"ok": False, "errors": [{
        "file": None, "line": None, "column": None, "path": None, "fix": None, "message": message,
    }]}  # fmt: skip


def test_no_arguments_still_prints_the_help(runner):
    result = runner.invoke(main, [], prog_name="layerkit")
    assert "Usage: layerkit [OPTIONS] COMMAND [ARGS]..." in result.output


# -- results on stdout, messages on stderr ---------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """small.yaml, 100 real CIFAR-10 images as an archive and three of them as files."""
    root = tmp_path_factory.mktemp("tidy")
    archive = cifar_subset(root / "c100.tar", 10)
    (root / "small.yaml").write_text(SMALL)
    (root / "images").mkdir()
    with tarfile.open(archive) as tar:
        for member in [m for m in tar.getmembers() if m.isfile()][::40]:
            (root / "images" / member.name.replace("/", "_")).write_bytes(
                tar.extractfile(member).read()
            )
    return root


def streams(runner, *args):
    result = runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


# (arguments, what stdout starts with or holds, what stderr starts with or holds): "" means empty
CASES = {
    "build": (["build", "small.yaml", "--plain", "--save", "built.keras"],
              "Model: small (small.yaml)\n", "saved the untrained model to built.keras\n"),
    "validate": (["validate", "small.yaml"], "✓ small.yaml: valid spec 'small' (3 layers)\n", ""),
    "schema": (["schema"], '{\n "$schema"', ""),
    "schema -o": (["schema", "-o", "schema.json"], "", "wrote schema.json\n"),
    "new": (["new", "net"], "", "wrote net.yaml; check it with: layerkit build net.yaml\n"),
    "graph": (["graph", "small.yaml", "-o", "small.svg"], "", "wrote small.svg (3 layers)\n"),
    "import": (["import", EXAMPLES / "cifar_summary.txt", "-o", "imported.yaml"],
               "25 rows: ", "wrote imported.yaml: 25 layers; check it with: layerkit build "
               "imported.yaml\n"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("command", list(CASES))
def test_results_go_to_stdout_and_messages_to_stderr(runner, workspace, command, tmp_path,
                                                       monkeypatch):  # fmt: skip
    for name in ("small.yaml", "c100.tar", "images"):
        os.symlink(workspace / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    args, out, err = CASES[command]
    stdout, stderr = streams(runner, *args)
    assert stdout.startswith(out) if out else stdout == ""
    assert stderr.startswith(err) if err else stderr == ""


@pytest.mark.slow
def test_train_evaluate_predict_streams(runner, workspace, tmp_path, monkeypatch):
    """train: progress on stderr, the closing line on stdout (JSON Lines all on stdout with
    --json); evaluate and predict: their table or JSON on stdout, nothing on stderr."""
    monkeypatch.setenv("LAYERKIT_CACHE", str(workspace / "cache"))
    monkeypatch.chdir(workspace)
    stdout, stderr = streams(runner, "train", "small.yaml", "--data", "c100.tar", "--out",
                             tmp_path / "run")  # fmt: skip
    assert stdout.startswith(f"done: 1 epoch in {tmp_path / 'run'}; best val_accuracy ")
    assert stdout.count("\n") == 1
    lines = stderr.splitlines()
    assert lines[0].startswith("training small on ") and lines[1].startswith("epoch 1/1  ")
    stdout, stderr = streams(runner, "train", "small.yaml", "--data", "c100.tar", "--out",
                             tmp_path / "json", "--json")  # fmt: skip
    events = [json.loads(line)["event"] for line in stdout.splitlines()]
    assert (events, stderr) == (["start", "epoch", "end"], "")
    stdout, stderr = streams(runner, "evaluate", tmp_path / "run", "--plain")
    assert stdout.startswith("accuracy") or "accuracy" in stdout.splitlines()[0]
    assert stderr == ""
    stdout, stderr = streams(runner, "predict", tmp_path / "run", "images", "--json")
    report = json.loads(stdout)
    assert list(report) == ["predictions"] and len(report["predictions"]) == 3
    assert set(report["predictions"][0]) == {"file", "top"} and stderr == ""
    stdout, stderr = streams(runner, "runs", tmp_path, "--plain")
    assert stdout.splitlines()[0].startswith("run ") and stderr == ""


def test_predict_json_help_says_one_object(runner):
    result = runner.invoke(main, ["predict", "--help"])
    assert "Print one JSON object" in " ".join(result.stdout.split())


# -- shell completion ------------------------------------------------------------------------------


def complete(runner, shell: str, words: str) -> list[str]:
    """What click's completion for ``shell`` offers for the command line ``words`` (the cursor
    at its end), as the shell's script asks for it."""
    cword = str(len(words.split()) - 1)
    env = {"_LAYERKIT_COMPLETE": f"{shell}_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = runner.invoke(main, [], prog_name="layerkit", env=env)
    assert result.exit_code == 0, result.output
    if shell == "bash":  # "type,value" per line
        return [line.split(",", 1)[1] for line in result.stdout.splitlines()]
    lines = result.stdout.splitlines()  # zsh: type, value, help, per completion
    return [lines[i + 1] for i in range(0, len(lines), 3)]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_completes_commands_and_options(runner, shell):
    assert complete(runner, shell, "layerkit bu") == ["build"]
    assert set(complete(runner, shell, "layerkit r")) == {"runs"}
    assert complete(runner, shell, "layerkit build --al") == ["--all-variants", "--allow-large"]
    assert "--resume" in complete(runner, shell, "layerkit train --re")


@pytest.mark.parametrize("words", ["layerkit build spe", "layerkit train --epochs 2 spe",
                                   "layerkit diff specs/cifar.yaml spe", "layerkit import spe",
                                   "layerkit evaluate spe"])  # fmt: skip
def test_completion_offers_files_for_specs_and_other_file_arguments(runner, words):
    cword = str(len(words.split()) - 1)
    env = {"_LAYERKIT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = runner.invoke(main, [], prog_name="layerkit", env=env)
    assert (result.exit_code, result.stdout) == (0, "file,spe\n")  # the shell lists the files


@pytest.mark.parametrize(("shell", "start"), [("bash", "_layerkit_completion() {"),
                                             ("zsh", "#compdef layerkit"),
                                             ("fish", "function _layerkit_completion")])  # fmt: skip
def test_completion_scripts_are_what_the_docs_install(runner, shell, start):
    env = {"_LAYERKIT_COMPLETE": f"{shell}_source"}
    result = runner.invoke(main, [], prog_name="layerkit", env=env)
    assert result.exit_code == 0 and result.stdout.startswith(start)
    assert f"_LAYERKIT_COMPLETE={shell}_complete" in result.stdout
