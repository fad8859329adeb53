"""The command line: --version, one meaning of the fit options, report options reaching the report."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import afdecomp as afd
from afdecomp import cli

from .conftest import ROOT


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"afdecomp {afd.__version__}"
    r = subprocess.run([sys.executable, "-m", "afdecomp", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"afdecomp {afd.__version__}"


@pytest.mark.parametrize("command", [["fit", "gap"], ["fit", "rational"], ["report"]])
def test_fit_options_mean_the_same_everywhere(command):
    args = cli.build_parser().parse_args([*command, "x.jsonl", "--out", "o", "--draws", "300", "--tune", "200",
                                          "--chains", "3", "--seed", "5", "--sampler", "pymc", "--no-progress"])
    s = cli._settings(args)
    assert (s.draws, s.tune, s.chains, s.random_seed, s.sampler, s.progress) == (300, 200, 3, 5, "pymc", False)
    help_text = cli.build_parser()._subparsers._group_actions[0].choices
    sub = help_text[command[0]]
    if len(command) > 1:
        sub = sub._subparsers._group_actions[0].choices[command[1]]
    assert "posterior draws kept per chain, for every model fitted" in sub.format_help().replace("\n", " ").replace(
        "  ", " ")


def test_fits_default_to_each_estimators_own_settings():
    from afdecomp.models.gap import ComplianceGap
    from afdecomp.models.rational import RationalAgent
    for command in (["report", "x.jsonl", "--out", "o"], ["fit", "gap", "x.jsonl", "--out", "g.nc"],
                    ["fit", "rational", "x.jsonl", "--out", "r.nc"]):
        s = cli._settings(cli.build_parser().parse_args(command))
        assert (s.draws, s.tune, s.chains) == (None, None, None)
    gap, ra = s.gap(), s.rational()
    assert (gap.draws, gap.tune, gap.chains) == (ComplianceGap().draws, ComplianceGap().tune, 4)
    assert (ra.draws, ra.chains) == (RationalAgent().draws, RationalAgent().chains)


def test_report_command_writes_the_run_record(tmp_path):
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=2, seed=3)
    data = afd.write_logs(df, tmp_path / "s.parquet")
    assert cli.main(["report", str(data), "--out", str(tmp_path / "rep"), "--sections", "data,seed_sem",
                     "--seed", "9"]) == 0
    md = (tmp_path / "rep" / "index.md").read_text()
    rec = md.split("## Run record")[1]
    assert f"afdecomp report {data} --out {tmp_path / 'rep'} --sections data,seed_sem --seed 9" in rec
    assert "seed 9" in rec and "each model's own chains, tune and draws" in rec and "**fits:** none" in rec


@pytest.mark.slow
def test_report_rational_alone_via_the_cli_has_the_loo_comparison(tmp_path, capfd):
    df, _ = afd.simulate(n_models=2, n_queries=5, n_samples=2, variants=["default", "ncs"], seed=3)
    data = afd.write_logs(df, tmp_path / "s.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["report", str(data), "--out", str(tmp_path / "rep"), "--sections", "rational",
                         "--draws", "100", "--tune", "100"]) == 0
    err = capfd.readouterr().err
    assert "fitting the gap model (default chains x (100 tune + 100 draws)" in err  # declared by the section
    assert (tmp_path / "rep" / "tables" / "rational_loo.csv").is_file()


def test_report_reads_saved_fits_instead_of_fitting(tmp_path, capfd):
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=2, seed=3)
    data = afd.write_logs(df, tmp_path / "s.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["fit", "gap", str(data), "--out", str(tmp_path / "g.nc"), "--draws", "50", "--tune", "50",
                         "--chains", "2"]) == 0
        capfd.readouterr()
        assert cli.main(["report", str(data), "--out", str(tmp_path / "rep"), "--sections", "gap",
                         "--fit", str(tmp_path / "g.nc")]) == 0
    out, err = capfd.readouterr()
    assert "read the gap fit from" in out and "fitting the gap model" not in err
    md = (tmp_path / "rep" / "index.md").read_text()
    assert "**fits:** gap: given" in md and "2 chains x 50 draws" in md
    assert cli.main(["report", str(data), "--out", str(tmp_path / "rep2"), "--fit", str(tmp_path / "g.nc"),
                     "--fit", str(tmp_path / "g.nc")]) == 1
    assert "a second gap fit" in capfd.readouterr().err


def test_report_help_names_every_section():
    from afdecomp import report
    sub = cli.build_parser()._subparsers._group_actions[0].choices["report"]
    text = " ".join(sub.format_help().split())
    for key in report.SECTIONS:
        assert key in text.split("--sections SECTIONS")[-1].split("--catalog")[0], key
