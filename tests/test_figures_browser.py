"""summary.md's figures load in a real browser (headless Chromium) at the size promised.

The page is written next to summary.md and uses the very links summary.md has, so a link that
is not relative, badly encoded or pointing at a missing file fails here. Skipped where no
Chromium is installed; on Debian: `apt-get install -y --no-install-recommends chromium`.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from summarize_experiment.pipeline import summarize
from summarize_experiment.report.figures import (
    ControlBand,
    Figure,
    LossCurve,
    MetricPoint,
    MetricSeries,
    TaskFigure,
    figure_markdown,
    write_figures,
)
from testing.synthetic import EvalSpec, ExperimentSpec, RunSpec, build_experiment

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a small /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
    "--dump-dom",
]
IMAGE_LINK = re.compile(r"!\[(?:\\.|[^\\\]])*\]\(([^)\s]+)\)")
MISSING = "summary-figures/missing.svg"  # a broken link, to show the page notices one

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>figures</title></head>
<body>
{images}
<script>
window.addEventListener("load", () => {{
  const found = [...document.images].map((img) => {{
    let ink = null;
    try {{
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const context = canvas.getContext("2d");
      context.drawImage(img, 0, 0);
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
      ink = 0;
      for (let i = 0; i < pixels.length; i += 4) {{
        if (pixels[i + 3] > 0 && Math.min(pixels[i], pixels[i + 1], pixels[i + 2]) < 160) ink++;
      }}
    }} catch (error) {{
      ink = String(error);
    }}
    return {{
      src: img.getAttribute("src"),
      complete: img.complete,
      width: img.naturalWidth,
      height: img.naturalHeight,
      ink: ink,
    }};
  }});
  const out = document.createElement("pre");
  out.id = "result";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
}});
</script>
</body></html>
"""


def chromium() -> str | None:
    """Debian's Chromium, if installed."""
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def experiment(folder: Path) -> tuple[Path, list[Figure]]:
    """A folder with summary.md embedding a loss figure and two task figures (one of them with a
    name that needs slugging, a run name that needs escaping); summary.md and the figures."""
    runs = ["rank4_lr1e-5", "rank8 <b>[x]</b>", "rank16_lr1e-5"]
    curves = [
        LossCurve(
            run,
            list(range(60)),
            [2.0 / (1 + s / (10 + i)) for s in range(60)],
            [19, 39, 59],
            False,
            None,
        )
        for i, run in enumerate(runs)
    ]
    tasks = [
        TaskFigure(
            name,
            metric,
            higher,
            [
                MetricSeries(
                    run,
                    [
                        MetricPoint(e, 0.6 + 0.05 * e + 0.02 * i, 0.55, 0.7 + 0.05 * e)
                        for e in range(3)
                    ],
                    i == 2,
                )
                for i, run in enumerate(runs)
            ],
            [ControlBand("base", 0.58, 0.54, 0.62)],
        )
        for name, metric, higher in [
            ("capitalization", "balanced accuracy", True),
            ("Sum digits / ÄÖÜ (v2)", "RMSE", False),
        ]
    ]
    figures = write_figures(folder / "summary-figures", curves, tasks)
    summary = folder / "summary.md"
    lines = ["# Experiment summary", "", "## Figures", ""]
    for line in figure_markdown(figures, folder):
        lines += [line, ""]
    summary.write_text("\n".join(lines), encoding="utf-8")
    return summary, figures


def render(binary: str, page: Path, profile: Path) -> list[dict[str, object]]:
    """Load `page` in headless Chromium and return what its script found about each image."""
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config")}
    env["XDG_CACHE_HOME"] = str(profile / "cache")
    completed = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile / 'data'}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    match = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, re.DOTALL)
    assert match, (
        f"no result from Chromium (exit {completed.returncode}):\n{completed.stderr[-2000:]}"
    )
    found: list[dict[str, object]] = json.loads(html.unescape(match[1]))
    return found


def need_chromium() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip(
            "no headless browser: Chromium not found on PATH or at /usr/bin/chromium "
            "(Debian: apt-get install -y --no-install-recommends chromium)"
        )
    return binary


def check_in_chromium(
    binary: str, summary: Path, sizes: list[tuple[int, int]], profile: Path
) -> list[str]:
    """Load every image summary.md links, as a browser beside it would, and check each loads
    with its expected size and is not blank; returns the links."""
    links = IMAGE_LINK.findall(summary.read_text(encoding="utf-8"))
    assert len(links) == len(sizes)
    assert all(not link.startswith(("/", "file:")) and " " not in link for link in links)
    images = "\n".join(f'<img src="{html.escape(src)}" alt="">' for src in [*links, MISSING])
    page = summary.parent / "figures-check.html"
    page.write_text(PAGE.format(images=images), encoding="utf-8")
    try:
        found = render(binary, page, profile)
    finally:
        page.unlink()
    assert [image["src"] for image in found] == [*links, MISSING]
    *loaded, missing = found
    assert missing["complete"] and missing["width"] == 0, "the page cannot tell a broken image"
    for image, (width, height) in zip(loaded, sizes, strict=True):
        assert image["complete"] is True, image
        assert (image["width"], image["height"]) == (width, height), image
        if isinstance(image["ink"], int):  # a drawing, not a blank: lines, text, axes
            assert image["ink"] > 0.005 * width * height, image
    return links


def test_summary_figures_load_in_headless_chromium(tmp_path: Path) -> None:
    binary = need_chromium()
    summary, figures = experiment(tmp_path / "experiment")
    assert len(figures) == len(list(figures[0].path.parent.glob("*.svg"))) == 3
    sizes = [(figure.width_px, figure.height_px) for figure in figures]
    check_in_chromium(binary, summary, sizes, tmp_path / "profile")


def test_the_summary_md_of_an_experiment_shows_its_figures(
    tmp_path: Path, template_cache: Path
) -> None:
    """summary.md as the summarizer writes it for a real experiment: its loss figure and its
    task figures load, each at the size summary.json records."""
    binary = need_chromium()
    targets = ["1", "0"] * 10

    def answers(right: int) -> list[str]:
        return targets[:right] + ["1"] * (len(targets) - right)

    spec = ExperimentSpec(
        name="figures",
        runs=[RunSpec("r4", steps_per_epoch=30), RunSpec("r8", steps_per_epoch=30),
              RunSpec("base", type="control")],
        tasks=["cap"],
        evals=[
            *[EvalSpec(run, "cap", epoch, targets, answers(14 + 2 * epoch))
              for run in ("r4", "r8") for epoch in (0, 1)],
            EvalSpec("base", "cap", None, targets, ["1"] * 20),
        ],
        epochs=2,
    )  # fmt: skip
    exp = build_experiment(tmp_path, spec, cache_dir=template_cache)
    code, result = summarize(exp, use_sacct=False)
    assert code == 0, result
    report = json.loads((exp / "summary.json").read_text(encoding="utf-8"))
    kinds = [figure["kind"] for figure in report["figures"]]
    assert kinds == ["training-loss", "task-metric"]
    sizes = [(figure["width_px"], figure["height_px"]) for figure in report["figures"]]
    links = check_in_chromium(binary, exp / "summary.md", sizes, tmp_path / "profile")
    assert links == [figure["path"] for figure in report["figures"]]
