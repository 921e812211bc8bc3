"""The figures of summary.md: what is drawn, what is written, and that it is byte-stable."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from summarize_experiment.report import figures as fig
from summarize_experiment.report.figures import (
    ControlBand,
    LossCurve,
    MetricPoint,
    MetricSeries,
    TaskFigure,
    figure_markdown,
    metric_file,
    write_figures,
)

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
LONG_TASK = "Größenordnung/Ελληνικά 日本語 task: " * 6 + "x" * 20  # 200+ characters


def loss_curve(run: str, steps: int = 120, epochs: int = 3, **kwargs: object) -> LossCurve:
    """A smooth falling loss over `steps` steps in `epochs` equal epochs."""
    per_epoch = steps // max(epochs, 1)
    values = [2.0 * math.exp(-s / 40) + 0.4 for s in range(steps)]
    defaults: dict[str, object] = {
        "run": run,
        "steps": list(range(steps)),
        "losses": values,
        "epoch_ends": [per_epoch * (e + 1) - 1 for e in range(epochs)],
        "diverged": False,
        "unfinished": None,
    }
    defaults.update(kwargs)
    return LossCurve(**defaults)  # type: ignore[arg-type]


def series(run: str, base: float, epochs: int = 3, best: bool = False) -> MetricSeries:
    points = [
        MetricPoint(e, base + 0.05 * e, base + 0.05 * e - 0.04, base + 0.05 * e + 0.04)
        for e in range(epochs)
    ]
    return MetricSeries(run, points, best)


def sample() -> tuple[list[LossCurve], list[TaskFigure]]:
    """Four runs (one diverged, one unfinished), two tasks with a control each."""
    runs = ["rank4_lr1e-5", "rank8_lr1e-5", "rank16_lr1e-5", "rank16_lr1e-4"]
    diverged = [2.0 - 0.01 * s if s < 70 else None for s in range(120)]
    curves = [
        loss_curve(runs[0]),
        loss_curve(runs[1]),
        loss_curve(runs[2], steps=90, epoch_ends=[39, 79], unfinished="TIMEOUT at step 90"),
        loss_curve(runs[3], losses=diverged, diverged=True),
    ]
    tasks = [
        TaskFigure(
            "capitalization",
            "balanced accuracy",
            True,
            [series(r, 0.6 + 0.03 * i, best=i == 2) for i, r in enumerate(runs)],
            [ControlBand("Llama-3.2-1B-Instruct_base", 0.62, 0.58, 0.66)],
        ),
        TaskFigure(
            "sum_digits",
            "RMSE",
            False,
            [series(r, 3.0 - 0.2 * i, best=i == 1) for i, r in enumerate(runs)],
            [ControlBand("base", 3.4, 3.1, 3.7)],
        ),
    ]
    return curves, tasks


def parse(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())


def groups(root: ET.Element, pattern: str) -> dict[str, ET.Element]:
    """The `<g>` elements whose id matches `pattern` (the gids figures.py sets), by id."""
    return {
        g.get("id", ""): g for g in root.iter(f"{SVG}g") if re.fullmatch(pattern, g.get("id", ""))
    }


def stroke_width(group: ET.Element) -> float:
    """The stroke width of the first stroked path in `group`."""
    for path in group.iter(f"{SVG}path"):
        match = re.search(r"stroke-width:\s*([0-9.]+)", path.get("style", ""))
        if match:
            return float(match[1])
    raise AssertionError("no stroked path")


def texts(path: Path) -> list[str]:
    """Every text drawn (glyphs are paths; matplotlib leaves each text in a comment)."""
    return re.findall(r"<!-- (.*?) -->", path.read_text(encoding="utf-8"))


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[fig.Figure]]:
    folder = tmp_path / "summary-figures"
    curves, tasks = sample()
    return folder, write_figures(folder, curves, tasks)


def test_files_have_the_promised_names_and_sizes(written: tuple[Path, list[fig.Figure]]) -> None:
    folder, figures = written
    names = ["training-loss.svg", "metric-capitalization.svg", "metric-sum_digits.svg"]
    assert [f.path for f in figures] == [folder / n for n in names]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, fig.MANIFEST_FILE])
    assert [f.kind for f in figures] == [fig.KIND_LOSS, fig.KIND_METRIC, fig.KIND_METRIC]
    for figure in figures:
        root = parse(figure.path)
        assert root.tag == f"{SVG}svg"
        assert root.get("width") == str(figure.width_px)
        assert root.get("height") == str(figure.height_px)
        view = [float(v) for v in root.get("viewBox", "").split()]
        assert view[2] * 96 / 72 == pytest.approx(figure.width_px, abs=0.5)
        assert view[3] * 96 / 72 == pytest.approx(figure.height_px, abs=0.5)
        assert figure.height_px == 432 and 768 <= figure.width_px <= 1100
        assert figure.alt and "\n" not in figure.alt


def test_loss_figure_has_a_line_per_run_epoch_ends_and_markers(
    written: tuple[Path, list[fig.Figure]],
) -> None:
    loss = parse(written[1][0].path)
    assert sorted(groups(loss, r"loss-run-\d+")) == [f"loss-run-{i}" for i in range(4)]
    # epochs end at 39, 79, 119 for the full runs; the unfinished run says the same for 39, 79
    assert len(groups(loss, r"epoch-end-\d+")) == 3
    assert sorted(groups(loss, r"epoch-label-\d+")) == [f"epoch-label-{e}" for e in range(3)]
    assert "diverged-3-marker" in groups(loss, r"diverged-\d+-marker")
    assert "unfinished-2-marker" in groups(loss, r"unfinished-\d+-marker")
    drawn = texts(written[1][0].path)
    assert "diverged" in drawn and "TIMEOUT at step 90" in drawn
    assert "rank16_lr1e-4 (diverged)" in drawn
    assert "Training loss by global step" in drawn
    assert "global step (optimizer steps)" in drawn
    alt = written[1][0].alt
    assert "4 runs" in alt and "diverged: rank16_lr1e-4" in alt and "TIMEOUT at step 90" in alt


def test_metric_figure_has_runs_intervals_control_and_best(
    written: tuple[Path, list[fig.Figure]],
) -> None:
    path = written[1][1].path
    root = parse(path)
    lines = groups(root, r"metric-run-\d+")
    assert sorted(lines) == [f"metric-run-{i}" for i in range(4)]
    assert len(groups(root, r"metric-ci-\d+")) == 4
    widths = {gid: stroke_width(g) for gid, g in lines.items()}
    assert widths["metric-run-2"] > max(w for gid, w in widths.items() if gid != "metric-run-2")
    assert {"control-band-0", "control-line-0", "control-label-0"} <= set(
        groups(root, r"control-.*")
    )
    drawn = texts(path)
    assert "rank16_lr1e-5 (best)" in drawn
    assert "Llama-3.2-1B-Instruct_base" in drawn
    assert "without epochs, 95% interval" in drawn
    assert "balanced accuracy (0–1)" in drawn
    assert "epoch (0-indexed)" in drawn
    assert "capitalization: balanced accuracy by epoch (higher is better)" in drawn
    # integer epoch ticks only
    assert [t for t in drawn if re.fullmatch(r"[0-9.−-]+", t) and "." not in t][:3] == [
        "0",
        "1",
        "2",
    ]
    rmse = texts(written[1][2].path)
    assert "RMSE (target units)" in rmse
    assert "sum_digits: RMSE by epoch (lower is better)" in rmse


def test_log_scale_only_beyond_two_decades(tmp_path: Path) -> None:
    wide = loss_curve("wide", losses=[10 ** (2.5 - s / 40) for s in range(120)])
    narrow = loss_curve("narrow", losses=[10 ** (1.5 - s / 120) for s in range(120)])
    (log,) = write_figures(tmp_path / "a", [wide], [])
    (linear,) = write_figures(tmp_path / "b", [narrow], [])
    assert "training loss (cross-entropy per token, log scale)" in texts(log.path)
    assert "logarithmic" in log.alt
    assert "training loss (cross-entropy per token)" in texts(linear.path)
    assert "logarithmic" not in linear.alt


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    curves, tasks = sample()
    first = write_figures(tmp_path / "one", curves, tasks)
    second = write_figures(tmp_path / "two", curves, tasks)
    again = write_figures(tmp_path / "one", curves, tasks)
    for a, b, c in zip(first, second, again, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes() == c.path.read_bytes()
    content = first[0].path.read_text(encoding="utf-8")
    assert "<dc:date>" not in content
    assert re.search(r"\b20\d\d-\d\d-\d\d", content) is None


def test_same_bytes_in_other_processes(tmp_path: Path) -> None:
    curves, tasks = sample()
    here = write_figures(tmp_path / "here", curves, tasks)
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]);"
        "from test_figures import sample; from summarize_experiment.report.figures import "
        "write_figures; write_figures(Path(sys.argv[1]), *sample())"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = tmp_path / f"seed{seed}"
        subprocess.run(
            [sys.executable, "-c", script, str(out), str(ROOT / "tests")],
            check=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        for figure in here:
            assert (out / figure.path.name).read_bytes() == figure.path.read_bytes()


def test_matplotlib_global_state_is_neither_read_nor_changed(tmp_path: Path) -> None:
    import matplotlib

    curves, tasks = sample()
    clean = write_figures(tmp_path / "clean", curves, tasks)
    with matplotlib.rc_context({"lines.linewidth": 9, "font.size": 30, "axes.grid": False}):
        before = dict(matplotlib.rcParams)
        touched = write_figures(tmp_path / "touched", curves, tasks)
        assert dict(matplotlib.rcParams) == before
    for a, b in zip(clean, touched, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()


def test_text_uses_the_font_matplotlib_ships() -> None:
    """Not a system copy of DejaVu Sans, whose version (so glyph paths) varies by machine."""
    import matplotlib
    from matplotlib.font_manager import FontProperties, findfont

    with fig._matplotlib_context():
        used = Path(findfont(FontProperties()))
    assert used.name == "DejaVuSans.ttf"
    assert used.is_relative_to(Path(matplotlib.get_data_path()))


def test_importing_the_module_does_not_import_matplotlib() -> None:
    code = (
        "import sys; import summarize_experiment.report.figures as f; "
        "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplot' in m); "
        "f.slug('x'); f.figure_markdown([], f.Path('.')); "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_stale_figures_are_removed_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "summary-figures"
    curves, tasks = sample()
    write_figures(folder, curves, tasks)
    keep = ["notes.txt", "metric-x.png", "other.svg", "metric-Upper.svg", "training-loss.svg.bak"]
    for name in keep:
        (folder / name).write_text("mine")
    (folder / "metric-old_task.svg").write_text("stale")
    figures = write_figures(folder, [], tasks[:1])
    assert [f.path.name for f in figures] == ["metric-capitalization.svg"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*keep, "metric-capitalization.svg", fig.MANIFEST_FILE]
    )
    assert write_figures(folder, [], []) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_write_is_atomic_and_leaves_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "figs"
    curves, tasks = sample()
    first = write_figures(folder, curves, tasks)
    before = {f.path: f.path.read_bytes() for f in first}
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str | Path) -> None:
        replaced.append((Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    (folder / fig.MANIFEST_FILE).unlink()  # what they were drawn from is unknown: redraw all
    write_figures(folder, curves, tasks)
    assert [dst for _, dst in replaced] == [p.name for p in before] + [fig.MANIFEST_FILE]
    assert all(src.startswith(".") and src.endswith(".tmp") for src, _ in replaced)
    assert {p: p.read_bytes() for p in before} == before
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]

    def full(*args: object, **kwargs: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fig, "_svg_bytes", full)
    (folder / fig.MANIFEST_FILE).unlink()
    with pytest.raises(OSError):
        write_figures(folder, curves, tasks)
    assert {p: p.read_bytes() for p in before} == before


def test_edge_cases_draw_without_failing(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> & $x^2$ --> \x00\x07 ]]>'
    curves = [
        loss_curve(hostile),
        loss_curve("_leading underscore", steps=1, epochs=1, epoch_ends=[0]),
        loss_curve("all none", losses=[None] * 120, diverged=True),
        loss_curve("nan and inf", losses=[math.nan, math.inf, 1.0] * 40),
        loss_curve("no points", steps=0, epochs=0, epoch_ends=[]),
    ]
    nan_points = [MetricPoint(0, math.nan, None, None), MetricPoint(1, 0.5, math.nan, 0.6)]
    tasks = [
        TaskFigure(
            LONG_TASK,
            "accuracy",
            True,
            [
                series(hostile, 0.5, best=True),
                MetricSeries("nan", nan_points, False),
                MetricSeries("empty", [], False),
            ],
            [ControlBand(hostile, math.nan, None, None), ControlBand("no interval", 0.5, None, 1)],
        ),
        TaskFigure("controls only", "f1", True, [], [ControlBand("base", 0.4, 0.3, 0.5)]),
        TaskFigure("nothing", "accuracy", True, [], []),
        TaskFigure("one epoch", "MAE", False, [series("r", 2.0, epochs=1)], []),
        TaskFigure("gappy", "accuracy", True, [MetricSeries("r", [nan_points[1]], False)], []),
    ]
    figures = write_figures(tmp_path, curves, tasks)
    assert len(figures) == 5  # "nothing" has nothing to draw
    for figure in figures:
        data = figure.path.read_bytes()
        ET.fromstring(data)
        assert b"<script" not in data.lower()
        assert b"\x00" not in data and b"\x07" not in data
    loss_texts = texts(figures[0].path)
    assert "_leading underscore" in loss_texts
    assert "all none (diverged) (no finite loss)" in loss_texts
    loss_lines = groups(parse(figures[0].path), r"loss-run-\d+")
    assert len(loss_lines) == 5
    assert list(loss_lines["loss-run-1"].iter(f"{SVG}use"))  # one point: shown by a marker
    assert not list(loss_lines["loss-run-0"].iter(f"{SVG}use"))
    long_name = figures[1].path.name
    assert len(long_name) <= 60 and re.fullmatch(r"metric-[a-z0-9_-]+\.svg", long_name)
    metric_texts = texts(figures[1].path)
    title = next(t for t in metric_texts if t.startswith("Größenordnung/Ελληνικά"))
    assert "…" in title and "□□□" in title and "日本語" not in title  # no glyphs in DejaVu Sans
    assert "日本語" in figures[1].alt
    assert "empty (no value)" in metric_texts
    assert len(groups(parse(figures[1].path), r"metric-run-\d+")) == 3
    assert len(groups(parse(figures[2].path), r"control-band-\d+")) == 1


def test_no_runs_write_nothing(tmp_path: Path) -> None:
    nothing = TaskFigure("t", "accuracy", True, [], [])
    assert write_figures(tmp_path / "new", [], [nothing]) == []
    assert not (tmp_path / "new").exists()


def test_many_runs_stay_distinct_and_readable(tmp_path: Path) -> None:
    runs = [f"run-{i:02d}" for i in range(20)]
    task = TaskFigure(
        "t", "accuracy", True, [series(r, 0.5 + 0.01 * i) for i, r in enumerate(runs)], []
    )
    (figure,) = write_figures(tmp_path, [], [task])
    styles = {(s["color"], s["linestyle"], s["marker"]) for s in map(fig._style, range(32))}
    assert len(styles) == 32
    assert len(groups(parse(figure.path), r"metric-run-\d+")) == 20
    assert all(size >= 10 for key, size in fig.RC.items() if key.endswith("size"))


def test_slugs_are_short_safe_and_unique() -> None:
    names = [
        "sum_digits",
        "Sum_digits",
        "a/b",
        "a b",
        "a-b",
        LONG_TASK,
        LONG_TASK + "!",
        "日本",
        "",
    ]
    slugs = [fig.slug(n) for n in names]
    assert slugs[0] == "sum_digits" and slugs[4] == "a-b"
    assert len(set(slugs)) == len(slugs)
    assert all(re.fullmatch(r"[a-z0-9_-]{1,49}", s) for s in slugs)
    assert all(fig.slug(n) == s for n, s in zip(names, slugs, strict=True))


def test_duplicate_task_names_are_refused(tmp_path: Path) -> None:
    task = TaskFigure("t", "accuracy", True, [series("r", 0.5)], [])
    with pytest.raises(ValueError, match="share a file"):
        write_figures(tmp_path, [], [task, task])


def test_markdown_links_are_relative_encoded_and_escaped(tmp_path: Path) -> None:
    figure = fig.Figure(
        tmp_path / "my figs" / "metric-a(b).svg",
        "acc on [task]\nwith *stars* <b>_x_</b> \\ & `code`",
        768,
        432,
        fig.KIND_METRIC,
    )
    (line,) = figure_markdown([figure], tmp_path)
    assert line == (
        r"![acc on \[task\] with \*stars\* \<b\>\_x\_\</b\> \\ \& \`code\`]"
        "(my%20figs/metric-a%28b%29.svg)"
    )
    (up,) = figure_markdown([figure], tmp_path / "reports")
    assert up.endswith("(../my%20figs/metric-a%28b%29.svg)")


def test_markdown_renders_to_the_image_and_its_alt(
    written: tuple[Path, list[fig.Figure]],
) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    folder, figures = written
    hostile = fig.Figure(figures[0].path, "loss [a] *b* <i>c</i>\nd_e_", 768, 432, fig.KIND_LOSS)
    lines = figure_markdown([*figures, hostile], folder.parent)
    html = markdown_it.MarkdownIt("commonmark").render("\n\n".join(lines))

    class Images(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[dict[str, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "img":
                self.found.append(dict(attrs))

    parser = Images()
    parser.feed(html)
    assert [i["src"] for i in parser.found] == [
        *(f"summary-figures/{f.path.name}" for f in figures),
        "summary-figures/training-loss.svg",
    ]
    alts = [*(f.alt for f in figures), "loss [a] *b* <i>c</i> d_e_"]
    assert [i["alt"] for i in parser.found] == alts
    assert "<i>" not in html


def test_unchanged_figures_are_not_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A figure whose inputs did not change and whose file is as written is kept without
    drawing; a changed input or a changed file redraws that figure alone."""
    folder = tmp_path / "figs"
    curves, tasks = sample()
    first = write_figures(folder, curves, tasks)
    before = {f.path.name: f.path.read_bytes() for f in first}
    drawn: list[str] = []
    real = fig._metric_svg

    def counting(task: TaskFigure) -> object:
        drawn.append(task.task)
        return real(task)

    monkeypatch.setattr(fig, "_metric_svg", counting)
    again = write_figures(folder, curves, tasks)
    assert again == first and drawn == []
    assert {f.path.name: f.path.read_bytes() for f in again} == before
    changed = [dataclasses.replace(tasks[0], metric="accuracy"), *tasks[1:]]
    write_figures(folder, curves, changed)
    assert drawn == [tasks[0].task]
    (folder / metric_file(tasks[1].task)).write_text("not the figure")
    write_figures(folder, curves, changed)
    assert drawn == [tasks[0].task, tasks[1].task]
    assert (folder / metric_file(tasks[1].task)).read_bytes() == before[metric_file(tasks[1].task)]
