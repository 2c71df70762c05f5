"""The commands docs/deploy.md and docs/gpu-training.md give an operator, run as far as they go
without an AWS account: every `make` target they name exists and `make -n` shows it passing
the documented variables on; every `python -m infra.release`, `python -m training` (launch
included) and `torchrun ... -m training` line parses with the command's own parser (a flag
renamed in the code and not in the docs fails here); step 1 of the SageMaker section lists
exactly the launch flags."""

from __future__ import annotations

import re
import subprocess
from dataclasses import fields

import pytest

from tests.conftest import REPO
from tests.docs.commands import DOCS, argv, commands

PLACEHOLDERS = ("...", "…", "[flags]", "<")  # table rows and prose, not runnable lines


def runnable(program: str) -> list[tuple[str, list[str]]]:
    return [
        (doc, argv(line))
        for doc, line in commands(program)
        if not any(p in line for p in PLACEHOLDERS)
    ]


def make_dry_run(*args: str) -> str:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_make_target_the_docs_name_exists() -> None:
    targets = {t for _, words in runnable("make") for t in words[1:] if "=" not in t}
    assert {
        "bootstrap",
        "synth",
        "deploy",
        "deploy-check",
        "deploy-role",
        "outputs",
        "destroy",
        "setup",
        "node_modules",
    } <= targets
    assert not [t for t in targets if not make_dry_run(t).strip() and t != "node_modules"]


@pytest.mark.parametrize(
    ("target", "variable", "shown"),
    [
        (
            "deploy",
            "DEPLOY_ARGS=--allow-change authMode",
            "-m infra.deploy --allow-change authMode",
        ),
        (
            "deploy-check",
            "DEPLOY_ARGS=--allow-change authMode",
            "infra.deploy --check --allow-change",
        ),
        (
            "synth",
            "CDK_ARGS=-c architecture=arm64",
            "cdk synth --no-notices --quiet -c architecture",
        ),
        (
            "cdk-diff",
            "CDK_ARGS=-c architecture=arm64",
            "cdk diff --no-notices -c architecture=arm64",
        ),
    ],
)
def test_the_documented_variables_reach_the_command(target: str, variable: str, shown: str):
    assert shown in make_dry_run(target, variable)


def test_make_deploy_runs_the_guarded_entry_point_and_destroy_asks() -> None:
    assert make_dry_run("deploy").strip().endswith("-m infra.deploy")
    assert "--force" not in make_dry_run("destroy")  # `cdk destroy` asks first (runbook step 7)


def test_every_infra_release_line_parses() -> None:
    from infra.deploy import parse_args as deploy_args
    from infra.release import parse_args

    lines = [w[w.index("infra.release") + 1 :] for _, w in runnable("python -m infra.release")]
    lines = [words for words in lines if words]  # the bare name, in prose
    assert len(lines) >= 8 and {w[0] for w in lines} == {"promote", "rollback", "shadow", "compare"}
    for words in lines:
        parse_args(words)  # argparse exits 2 on a flag or verb it does not know
    for _, words in runnable("make deploy"):
        given = [w.split("=", 1)[1] for w in words if w.startswith("DEPLOY_ARGS=")]
        deploy_args(given[0].split() if given else [])


def test_every_training_line_parses_as_the_job_will() -> None:
    from training.args import parse
    from training.sagemaker.args import check_training_flags
    from training.sagemaker.args import parse as parse_launch

    lines = [
        (doc, words)
        for doc, words in runnable("python -m training") + runnable("torchrun")
        if "training" in words and "--help" not in words and words[-1] != "launch"
    ]
    assert len(lines) >= 4
    for _, words in lines:
        rest = words[words.index("training") + 1 :]
        if rest[:1] == ["launch"]:
            launch, hyperparameters = parse_launch(rest[1:])
            assert launch.image_uri and launch.wait
            check_training_flags(hyperparameters)
        else:
            parse(rest)


def test_step_1_lists_exactly_the_launch_flags() -> None:
    from training.sagemaker.args import LaunchArguments

    doc = DOCS[1].read_text()
    step = doc[doc.index("1. Checks the flags.") : doc.index("**Every other flag")]
    documented = set(re.findall(r"`--([a-z_]+)`", step))
    assert documented == {f.name for f in fields(LaunchArguments)}


def test_a_multi_gpu_instance_runs_torchrun_over_all_its_gpus() -> None:
    """gpu-training.md, step 5: SageMaker's SM_NUM_GPUS decides between one process and
    torchrun over every GPU (the run itself is tests/training/test_distributed.py)."""
    from training.sagemaker.entry import command

    assert command(["--max_steps", "5"], 1)[1:] == ["-m", "training", "--max_steps", "5"]
    four = command(["--max_steps", "5"], 4)[1:]
    assert four[:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4"]
    assert four[5:] == ["-m", "training", "--max_steps", "5"]


def test_the_defaults_gpu_training_md_states_are_the_parsers() -> None:
    """Its opening line's full recipe and the "Writes:" paragraph's two defaults, against what
    `python -m training` with no flags parses to."""
    from training.args import parse

    doc = DOCS[1].read_text()
    assert "lr 2e-5, batch 16, 3 epochs, 512 tokens head+tail (head 128)" in doc
    assert "(default `runs/train/`" in doc and "(default `artifacts/models/`)" in doc
    given = {k: v for group in parse([]) for k, v in vars(group).items()}
    assert (given["learning_rate"], given["per_device_train_batch_size"]) == (2e-5, 16)
    assert (given["num_train_epochs"], given["max_length"]) == (3, 512)
    assert (given["truncation"], given["head_tokens"]) == ("head+tail", 128)
    assert (given["output_dir"], given["output"]) == ("runs/train", "artifacts/models")
