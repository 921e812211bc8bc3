"""SKILL.md is a valid Agent Skill, its references resolve, and the bundled demo summarizes to
what examples/demo/README.md says it holds, in the seed specification's section order."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from summarize_experiment.pipeline import summarize

pytestmark = pytest.mark.xdist_group("skill_md")

REPO = Path(__file__).resolve().parents[1]
SKILL = REPO / "SKILL.md"
README = REPO / "README.md"
DEMO = REPO / "examples" / "demo"
SKILL_NAME = "summarize-experiment"
ALLOWED_KEYS = {"name", "description", "license", "compatibility", "metadata"}
SEED_HEADINGS = [
    "# Experiment Summary",
    "## Run Status",
    "## Training Results",
    "## Evaluation Results",
    "## Incomplete Runs",
    "## Next Steps",
]


def frontmatter_and_body(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n"), "SKILL.md must start with a YAML frontmatter block"
    end = text.index("\n---\n", 4)
    data = yaml.safe_load(text[4:end])
    assert isinstance(data, dict)
    return data, text[end + len("\n---\n") :]


def outside_code_blocks(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------
# SKILL.md as an Agent Skill
# ---------------------------------------------------------------------------------------------


def test_frontmatter_follows_the_agent_skills_rules() -> None:
    data, _ = frontmatter_and_body(SKILL.read_text(encoding="utf-8"))
    assert {"name", "description"} <= set(data), data.keys()
    assert set(data) <= ALLOWED_KEYS, f"unexpected frontmatter keys {set(data) - ALLOWED_KEYS}"
    name = data["name"]
    assert isinstance(name, str) and 1 <= len(name) <= 64
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    assert not name.startswith("-") and not name.endswith("-") and "--" not in name
    assert name == SKILL_NAME
    description = data["description"]
    assert isinstance(description, str) and description.strip()
    assert len(description) <= 1024, len(description)
    assert "<" not in description and ">" not in description


def test_body_is_under_500_lines() -> None:
    _, body = frontmatter_and_body(SKILL.read_text(encoding="utf-8"))
    assert len(body.splitlines()) < 500


def test_every_script_skill_md_mentions_exists() -> None:
    text = SKILL.read_text(encoding="utf-8")
    mentioned = set(re.findall(r"(?<![\w/.-])((?:scripts|tools/inspect)/[\w./-]+\.py)\b", text))
    assert {"scripts/summarize.py", "tools/inspect/parse_eval_log.py"} <= mentioned
    missing = sorted(path for path in mentioned if not (REPO / path).is_file())
    assert missing == [], f"SKILL.md names scripts that do not exist: {missing}"


def test_make_targets_the_docs_mention_exist() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.MULTILINE))
    for doc in (SKILL, README):
        for target in re.findall(r"`make ([\w-]+)", doc.read_text(encoding="utf-8")):
            assert target in targets, f"{doc.name} mentions `make {target}`, not in Makefile"
    assert re.search(r"^EXPERIMENT \?= examples/demo$", makefile, re.MULTILINE)


@pytest.mark.parametrize("doc", [SKILL, README], ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    text = "\n".join(outside_code_blocks(doc.read_text(encoding="utf-8")))
    links = re.findall(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    assert links, f"{doc.name} has no links"
    for link in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", link) or link.startswith("#"):
            continue
        target = (doc.parent / link.split("#", 1)[0]).resolve()
        assert target.exists(), f"{doc.name}: link {link!r} does not resolve"


# ---------------------------------------------------------------------------------------------
# The bundled demo (what `make summarize` runs), summarized from a copy
# ---------------------------------------------------------------------------------------------


def split_row(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def tables(text: str) -> list[list[dict[str, str]]]:
    found: list[list[dict[str, str]]] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            rows = [split_row(row) for row in block]
            assert len({len(r) for r in rows}) == 1, block
            found.append([dict(zip(rows[0], r, strict=True)) for r in rows[2:]])
            block = []
    return found


def table_with(text: str, column: str) -> list[dict[str, str]]:
    matching = [t for t in tables(text) if t and column in t[0]]
    assert len(matching) == 1, f"expected one table with a {column!r} column"
    return matching[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    copy = tmp_path_factory.mktemp("demo") / "demo"

    def outputs_of_earlier_runs(folder: str, names: list[str]) -> set[str]:
        """What `make summarize` writes into the demo itself (git-ignored): not copied."""
        if Path(folder).resolve() == DEMO.resolve():
            return {"summary.md", "summary.json", "summary-figures"} & set(names)
        if Path(folder).resolve() == (DEMO / "logs").resolve():
            return {name for name in names if name.startswith("summarize-")}
        return set()

    shutil.copytree(DEMO, copy, ignore=outputs_of_earlier_runs)
    assert list(copy.glob("*/eval/*/logs/*.eval"))
    code, result = summarize(copy, use_sacct=False)
    assert code == 0, result
    return copy, (copy / "summary.md").read_text(encoding="utf-8")


def demo_readme_tables() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    return table_with(readme, "Final loss"), table_with(readme, "1 answered 1")


def test_demo_summary_has_the_seed_sections_in_order(demo: tuple[Path, str]) -> None:
    _, markdown = demo
    headings = [line for line in outside_code_blocks(markdown) if line.startswith("#")]
    assert headings[0] == "# Experiment Summary"
    for heading in SEED_HEADINGS:
        assert headings.count(heading) == 1, (heading, headings)
    positions = [headings.index(h) for h in SEED_HEADINGS]
    assert positions == sorted(positions), headings
    top_level = [h for h in headings if h.startswith("## ")]
    assert top_level[-1] == "## Next Steps"
    assert "## Datasets Used" in top_level
    assert markdown.rstrip("\n").splitlines()[-1] == "*Generated by summarize-experiment skill*"
    assert re.search(
        r"^\*\*Experiment:\*\* `cap_demo_lora_rank_comparison` \| \*\*Generated:\*\* \S+ \| "
        r"\*\*Status:\*\* 3/5 complete$",
        markdown,
        re.MULTILINE,
    )


def test_demo_training_results_match_its_readme(demo: tuple[Path, str]) -> None:
    _, markdown = demo
    runs, _ = demo_readme_tables()
    status = {row["Run"]: row for row in table_with(markdown, "Fine-tuning")}
    training = {row["Run"]: row for row in table_with(markdown, "Final Loss")}
    for run in runs:
        name = run["Run"]
        if run["Type"] in ("control", "eval-only"):
            assert status[name]["Fine-tuning"].startswith("N/A")
            assert name not in training
        elif run["Training"] == "completed":
            assert status[name]["Fine-tuning"] == "COMPLETED"
            assert float(training[name]["Final Loss"]) == pytest.approx(
                float(run["Final loss"]), abs=5e-4
            )
            assert (training[name]["Total Steps"], training[name]["Epochs"]) == ("250", "2")
        else:
            assert run["Training"].startswith("failed (OOM, 2 attempts)")
            assert status[name]["Fine-tuning"] == (
                "OUT_OF_MEMORY, retried with batch size 4 (retry 1 of 3), FAILED"
            )
    assert status["rank8_prior_exp"]["Type"] == "Eval-only"
    assert "(evaluates /scratch/" in status["rank8_prior_exp"]["Fine-tuning"]


def test_demo_evaluation_results_match_its_readme(demo: tuple[Path, str]) -> None:
    _, markdown = demo
    _, evaluations = demo_readme_tables()
    binary = {(r["Run"], r["Task"], r["Epoch"]): r for r in table_with(markdown, "Bal. Acc")}
    regression = {(r["Run"], r["Task"], r["Epoch"]): r for r in table_with(markdown, "RMSE")}
    assert len(binary) + len(regression) == len(evaluations) == 10
    for row in evaluations:
        key = (row["Run"], row["Task"], row["Epoch"])
        if row["Scorer"] == "match":
            shown = binary[key]
            assert float(shown["Accuracy"].split(" ")[0]) == pytest.approx(float(row["Accuracy"]))
            right_1, positives = map(int, row["1 answered 1"].split(" of "))
            right_0, negatives = map(int, row["0 answered 0"].split(" of "))
            balanced = (right_1 / positives + right_0 / negatives) / 2
            assert float(shown["Bal. Acc"].split(" ")[0]) == pytest.approx(balanced, abs=5e-4)
        else:
            shown = regression[key]
            parsed = 1 - int(row["Unparseable"]) / int(row["Samples"])
            assert float(shown["Parse Rate"]) == pytest.approx(parsed, abs=5e-4)
        assert shown["Samples"] == row["Samples"]
    assert binary[("rank8_lr1e-5", "capitalization", "1")]["Accuracy"].startswith("0.910 ")
    best = [line for line in markdown.splitlines() if line.startswith("**Best performing")]
    assert any(
        re.match(r"^\*\*Best performing on capitalization:\*\* rank8_lr1e-5 \(epoch 1\)", line)
        and "not clearly better than rank8_prior_exp: +0.0293 [" in line
        and "paired, n = 100)" in line
        for line in best
    ), best
    assert re.search(
        r"^- Fine-tuning improved balanced accuracy over the base model "
        r"Llama-3.2-1B-Instruct_base: \+0\.473 \[\S+, \S+\] \(p < 0\.001, paired, n = 100\)\.$",
        markdown,
        re.MULTILINE,
    )


def test_demo_says_no_internal_value(demo: tuple[Path, str]) -> None:
    """Python's None, True or False never reach what a person reads (issue 10)."""
    folder, markdown = demo
    log = (folder / "logs" / "summarize-experiment.log").read_text(encoding="utf-8")
    for text in (markdown, log):
        assert not re.search(r"\b(None|True|False)\b", text), re.findall(
            r".*\b(?:None|True|False)\b.*", text
        )
    assert "layout B; no output base" in log


def test_demo_shows_its_figures_and_datasets(demo: tuple[Path, str]) -> None:
    folder, markdown = demo
    figures = re.findall(r"!\[[^\]]*\]\((summary-figures/[^)]+\.svg)\)", markdown)
    assert figures == [
        "summary-figures/training-loss.svg",
        "summary-figures/metric-capitalization.svg",
        "summary-figures/metric-sum_digits.svg",
    ]
    assert all((folder / figure).is_file() for figure in figures)
    datasets = markdown.split("## Datasets Used", 1)[1].split("\n## ", 1)[0]
    assert re.search(r"ck-data/generated/words_and_numbers_train_(\w{8})\.json \| \1 \|", datasets)
    assert "| 62% / 38% (n=100) |" in datasets


def test_readme_shows_the_figure_the_demo_draws(demo: tuple[Path, str]) -> None:
    """The README's picture is the demo's own capitalization figure, byte for byte: redrawn by
    `make summarize` and copied to docs/ when the figures change."""
    folder, _ = demo
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "](docs/demo-capitalization.svg)" in readme
    drawn = (folder / "summary-figures" / "metric-capitalization.svg").read_bytes()
    assert (REPO / "docs" / "demo-capitalization.svg").read_bytes() == drawn


def test_demo_incomplete_runs_match_its_readme(demo: tuple[Path, str]) -> None:
    _, markdown = demo
    rows = table_with(markdown, "Stage")
    oom = [r for r in rows if r["Run"] == "rank16_lr1e-5" and r["Stage"] == "Fine-tuning"]
    assert len(oom) == 1 and oom[0]["Status"].startswith("OUT_OF_MEMORY, retried")
    assert re.search(r"Check rank16_lr1e-5/artifacts/slurm-\d+\.out", oom[0]["Notes"])
    timed_out = [r for r in rows if r["Run"] == "rank8_lr1e-5"]
    assert len(timed_out) == 1
    assert timed_out[0]["Stage"] == "Evaluation: sum_digits epoch 1"
    assert timed_out[0]["Status"] == "TIMEOUT"
    assert "DUE TO TIME LIMIT" in timed_out[0]["Notes"]
    assert re.search(r"Check rank8_lr1e-5/artifacts/epoch_1/slurm-\d+\.out", timed_out[0]["Notes"])
    assert {r["Run"] for r in rows} == {"rank8_lr1e-5", "rank16_lr1e-5"}
