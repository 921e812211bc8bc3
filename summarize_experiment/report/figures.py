"""SVG figures for summary.md: the training loss of every run, and each task's metric by epoch.

The caller maps its results onto the small dataclasses below and calls `write_figures`;
`figure_markdown` gives the image links to put in summary.md. Importing this module does not
import matplotlib: only drawing does, so a run without figures never pays for it.

Design:
- 8 × 4.5 in, i.e. 768 × 432 CSS px (the root `<svg>` says so in px): readable at 100% zoom on
  a laptop. Text is 10 pt or more, titles 12 pt. The figure only grows when its legend and
  labels would leave the axes too narrow, or the legend has more rows than 4 columns hold.
- Okabe–Ito colours (colour-blind safe). Past its 8 colours, runs cycle line styles; each run
  of a metric figure also has its own marker, so 32 runs never look alike.
- The loss axis is logarithmic when the finite losses are all positive and the largest is more
  than `LOG_SCALE_SPAN` (100, two decades) times the smallest; otherwise it is linear.
- Byte-stable: rcParams start from matplotlib's defaults inside an `rc_context` (global state is
  neither read nor changed), `svg.hashsalt` is fixed, the date is left out, ids come from the
  content, and the layout is computed here (no layout engine), so the same inputs give the same
  bytes.
- White background, not transparent, so the figures stay legible in dark themes; no background
  colour, no 3-D, only a faint horizontal grid.
- Text is drawn as glyph paths in DejaVu Sans (shipped with matplotlib), so it looks the same
  everywhere; characters it lacks (e.g. CJK) are drawn as "□", while the alt text keeps them.
- Every element a test or a reader may look for has an SVG id: `loss-run-{i}`,
  `epoch-end-{j}`, `epoch-label-{epoch}`, `diverged-{i}-marker`, `unfinished-{i}-marker`;
  `metric-run-{i}`, `metric-ci-{i}`, `control-band-{j}`, `control-line-{j}`,
  `control-label-{j}` (i: the run's index in the input, j: the control's or boundary's).
- Drawing is not thread-safe (matplotlib's rcParams are global): call it from one thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import os
import re
import tempfile
import unicodedata
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.typing import LineStyleType

LOSS_FILE = "training-loss.svg"
METRIC_PREFIX = "metric-"
KIND_LOSS = "training-loss"
KIND_METRIC = "task-metric"

WIDTH_IN = 8.0
HEIGHT_IN = 4.5
CSS_PX_PER_IN = 96  # a browser draws an SVG inch as 96 px; the SVG itself is in points (72/in)
MARGIN_PT = 8.0  # between the drawing and the figure's edge
LOG_SCALE_SPAN = 100.0  # log y when the finite losses span more than two decades
SLUG_CHARS = 40
NAME_CHARS = 32  # run names in legends
SIDE_CHARS = 28  # control names beside the axes
ALT_NAME_CHARS = 60
ALT_NAMES = 5  # run names listed in alt text before "and N more"
DIRECT_LABELS = 6  # at most this many "diverged" / "TIMEOUT …" texts beside the curves
MAX_LEGEND_COLUMNS = 4
KEY_LENGTH_PT = 26.0  # a legend entry's sample line
KEY_BAND_PT = 7.0  # the height of a band's sample
KEY_GAP_PT = 8.0  # between the sample and its text
ROW_GAP_PT = 3.0
COLUMN_GAP_PT = 20.0

# Okabe & Ito (2008), "Color Universal Design", most distinct first; their yellow (#F0E442) is
# darkened to be legible on white.
PALETTE = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#B8A000",  # yellow, darkened
)
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
CONTROL_STYLES = ("--", ":", "-.")
CONTROL_COLOUR = "#555555"
CONTROL_FILL = "#999999"
CONTROL_ALPHA = 0.22
BOUNDARY_COLOUR = "#c4c4c4"
TEXT_COLOUR = "#333333"
QUIET_TEXT = "#707070"
LINE_WIDTH = 1.6
BEST_LINE_WIDTH = 3.2

RC: dict[str, Any] = {
    "svg.hashsalt": "summarize-experiment",
    "svg.fonttype": "path",  # glyphs as paths: the same look in every viewer
    "svg.id": None,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same glyphs everywhere
    "font.enable_last_resort": False,  # a missing glyph is DejaVu's box; and 20% faster
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "text.parse_math": False,  # a `$` in a run name is text, not mathtext
    "text.usetex": False,
    "axes.formatter.use_mathtext": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.titlelocation": "left",
    "grid.color": "#e8e8e8",
    "grid.linewidth": 0.6,
    "axes.facecolor": "white",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "axes.edgecolor": "#666666",
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": "#666666",
    "ytick.color": "#666666",
    "xtick.labelcolor": TEXT_COLOUR,
    "ytick.labelcolor": TEXT_COLOUR,
    "text.color": TEXT_COLOUR,
    "path.simplify": True,
    "axes.formatter.useoffset": False,
}

_UNITS = {
    "accuracy": "0–1",
    "balanced accuracy": "0–1",
    "f1": "0–1",
    "macro f1": "0–1",
    "precision": "0–1",
    "recall": "0–1",
    "rmse": "target units",
    "mae": "target units",
    "r2": "unitless",
    "r²": "unitless",
}
Drawn = tuple[bytes, str, tuple[float, float]]  # the SVG, its alt text, its size in inches
_OWN_FILE = re.compile(rf"^(?:{re.escape(LOSS_FILE)}|{METRIC_PREFIX}[a-z0-9_-]+\.svg)$")
_ROOT_SIZE = re.compile(r'(<svg\b[^>]*?)width="([0-9.]+)pt" height="([0-9.]+)pt"')
_MD_ESCAPE = re.compile(r"([\\`*_\[\]<>&])")


@dataclass(frozen=True)
class LossCurve:
    """One run's training loss: points by global step (None or NaN where not finite)."""

    run: str
    steps: Sequence[int]
    losses: Sequence[float | None]
    epoch_ends: Sequence[int]  # the global step at which each epoch ended, in order
    diverged: bool
    unfinished: str | None  # e.g. "TIMEOUT at step 337", shown at the run's last point


@dataclass(frozen=True)
class MetricPoint:
    """A metric's value at one epoch (0-indexed), with its 95% interval when known."""

    epoch: int
    value: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class MetricSeries:
    """One fine-tuned run's metric by epoch on one task."""

    run: str
    points: Sequence[MetricPoint]
    best: bool


@dataclass(frozen=True)
class ControlBand:
    """A control run (e.g. the base model): one value for the task, with its 95% interval."""

    run: str
    value: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class TaskFigure:
    """Everything drawn in one task's figure."""

    task: str
    metric: str  # e.g. "balanced accuracy", "accuracy", "RMSE"
    higher_is_better: bool
    series: Sequence[MetricSeries]
    controls: Sequence[ControlBand]


@dataclass(frozen=True)
class Figure:
    """A figure written to disk: where, its alt text, its size in CSS px and its kind."""

    path: Path
    alt: str
    width_px: int
    height_px: int
    kind: str


@dataclass(frozen=True)
class _Key:
    """What one legend entry shows: a line (with its marker) and or a shaded band."""

    label: str
    colour: str = CONTROL_COLOUR
    linestyle: LineStyleType = "-"
    linewidth: float = LINE_WIDTH
    marker: str | None = None
    markersize: float = 0.0
    line: bool = True
    band: bool = False


def slug(task: str) -> str:
    """A short file-name-safe form of `task`: the name itself when it is already lower-case
    ASCII letters, digits, `_` and `-` (at most 40 characters); else its letters and digits
    folded to lower-case ASCII (at most 40) plus 8 hex digits of its SHA-256, so that two
    different names never share a file, even on a case-insensitive file system."""
    folded = unicodedata.normalize("NFKD", task).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^a-z0-9_]+", "-", folded.lower()).strip("-_")[:SLUG_CHARS].strip("-_")
    if base and base == task:
        return base
    digest = hashlib.sha256(task.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{base}-{digest}" if base else digest


def metric_file(task: str) -> str:
    """The file name of `task`'s metric figure."""
    return f"{METRIC_PREFIX}{slug(task)}.svg"


def write_figures(
    folder: Path, loss: Sequence[LossCurve], tasks: Sequence[TaskFigure]
) -> list[Figure]:
    """Draw the loss figure (when there are curves) and one figure per task (when it has a run
    or a control), write them atomically into `folder` (created if missing), and remove the
    figures of this module's naming there that were not written this time. Returns what was
    written, the loss figure first, then the tasks in their order."""
    planned: list[tuple[str, str, Callable[[], Drawn]]] = []
    if loss:
        planned.append((LOSS_FILE, KIND_LOSS, functools.partial(_loss_svg, loss)))
    planned += [
        (metric_file(t.task), KIND_METRIC, functools.partial(_metric_svg, t))
        for t in tasks
        if t.series or t.controls
    ]
    repeated = sorted(name for name, n in Counter(name for name, _, _ in planned).items() if n > 1)
    if repeated:
        raise ValueError(f"two task figures would share a file: {', '.join(repeated)}")
    drawn_before = _read_manifest(folder)
    inputs = {name: _digest(kind, draw) for name, kind, draw in planned}
    rendered: dict[str, bytes] = {}
    figures: list[Figure] = []
    kept: dict[str, dict[str, Any]] = {}
    to_draw = []
    for name, kind, draw in planned:
        before = drawn_before.get(name)
        if (
            before is not None
            and before["inputs"] == inputs[name]
            and _intact(folder, name, before)
        ):
            kept[name] = before
            figures.append(
                Figure(folder / name, before["alt"], before["width_px"], before["height_px"], kind)
            )
        else:
            to_draw.append((name, kind, draw))
            figures.append(Figure(folder / name, "", 0, 0, kind))
    if to_draw:
        with _matplotlib_context():
            for name, kind, draw in to_draw:
                svg, alt, (width, height) = draw()
                rendered[name] = svg
                drawn = Figure(folder / name, alt, _px(width), _px(height), kind)
                figures[[f.path.name for f in figures].index(name)] = drawn
    manifest = {
        name: {
            "inputs": inputs[name],
            "sha256": kept[name]["sha256"]
            if name in kept
            else hashlib.sha256(rendered[name]).hexdigest(),
            "alt": figure.alt,
            "width_px": figure.width_px,
            "height_px": figure.height_px,
        }
        for name, figure in zip(inputs, figures, strict=True)
    }
    _replace_files(folder, rendered, keep=set(kept), manifest=manifest if planned else None)
    return figures


FIGURE_MAX_BYTES = 64 << 20
"""The most read of a figure or the manifest when checking they are as written (a figure is a
few hundred KB): anything bigger is not ours, and is drawn again."""
MANIFEST_FILE = "figures.json"
"""What each figure was drawn from (a digest of its inputs and of this module) and the digest
of its file: a figure whose inputs did not change, and whose file is as written, is not drawn
again (matplotlib is not even imported when none needs drawing)."""


def _module_digest() -> str:
    from importlib.metadata import version

    source = Path(__file__).read_bytes()
    return hashlib.sha256(source + version("matplotlib").encode()).hexdigest()


def _digest(kind: str, draw: Callable[[], Drawn]) -> str:
    """A digest of what a planned figure is drawn from: its kind and inputs (their repr is
    exact: floats print as themselves) and this module with the matplotlib version."""
    assert isinstance(draw, functools.partial)
    text = repr((kind, draw.args, draw.keywords))
    return hashlib.sha256((_module_digest() + text).encode()).hexdigest()


def _read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    import json

    from ..evidence.safe_io import InputRefused, read_regular_bytes

    try:
        data = json.loads(bytes(read_regular_bytes(folder / MANIFEST_FILE, FIGURE_MAX_BYTES)))
    except (OSError, ValueError, RecursionError, InputRefused):
        return {}
    return data if isinstance(data, dict) else {}


def _intact(folder: Path, name: str, before: dict[str, Any]) -> bool:
    """Whether the figure file is still the one drawn (a regular file, not a link: a figure
    replaced by anything else is drawn again)."""
    from ..evidence.safe_io import InputRefused, read_regular_bytes

    path = folder / name
    try:
        if path.is_symlink():
            return False
        data = read_regular_bytes(path, FIGURE_MAX_BYTES)
    except (OSError, InputRefused):
        return False
    return not data.cut and hashlib.sha256(bytes(data)).hexdigest() == before.get("sha256")


def figure_markdown(figures: Sequence[Figure], relative_to: Path) -> list[str]:
    """One markdown image line per figure, linked relative to the folder `relative_to` (the one
    holding summary.md), with the alt text escaped and the path percent-encoded."""
    lines = []
    for figure in figures:
        relative = Path(os.path.relpath(figure.path, relative_to)).as_posix()
        url = urllib.parse.quote(relative, safe="/")
        alt = _MD_ESCAPE.sub(r"\\\1", " ".join(_clean(figure.alt).split()))
        lines.append(f"![{alt}]({url})")
    return lines


def _px(inches: float) -> int:
    return round(inches * CSS_PX_PER_IN)


def _clean(text: str) -> str:
    """`text` without control, format, private or surrogate characters (XML allows none)."""
    return "".join(
        " " if ch in "\t\n\r" else ch
        for ch in text
        if ch in "\t\n\r" or unicodedata.category(ch) not in {"Cc", "Cf", "Cs", "Co", "Cn"}
    )


def _short(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    one_line = " ".join(_clean(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def _drawn(text: str, limit: int) -> str:
    """`_short(text, limit)` with each character the font has no glyph for shown as "□", so
    that its width is measured as drawn."""
    return "".join(ch if _has_glyph(ch) else "□" for ch in _short(text, limit))


@functools.cache
def _has_glyph(ch: str) -> bool:
    from matplotlib.font_manager import FontProperties, findfont, get_font

    font = get_font(findfont(FontProperties(family=RC["font.sans-serif"])))
    return ch == " " or font.get_char_index(ord(ch)) != 0


def _names(names: Sequence[str]) -> str:
    shown = [_short(name, ALT_NAME_CHARS) for name in names[:ALT_NAMES]]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(value)


def _extent(upper: float | None, lower: float | None) -> float:
    """An error bar's length from `lower` to `upper`: 0 when either is unknown or they cross."""
    if _finite(upper) and _finite(lower):
        return max(upper - lower, 0.0)
    return 0.0


def _style(index: int) -> dict[str, Any]:
    """Colour, line style and marker of the `index`-th run: 32 distinct combinations."""
    colours = len(PALETTE)
    return {
        "color": PALETTE[index % colours],
        "linestyle": LINESTYLES[(index // colours) % len(LINESTYLES)],
        "marker": MARKERS[(index + index // colours) % len(MARKERS)],
    }


def _unit_label(metric: str) -> str:
    unit = _UNITS.get(metric.strip().lower())
    name = _drawn(metric, 40)
    return f"{name} ({unit})" if unit else name


@contextlib.contextmanager
def _matplotlib_context() -> Iterator[None]:
    """matplotlib's own defaults plus `RC`, restored afterwards."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        params: Any = matplotlib.rcParams  # typed by key; RC's keys are checked when set
        params.update(RC)
        yield


def _new_figure() -> tuple[MplFigure, Axes]:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(WIDTH_IN, HEIGHT_IN))
    FigureCanvasSVG(figure)
    return figure, figure.add_subplot()


def _svg_bytes(figure: MplFigure) -> bytes:
    """The figure as SVG, its size given in CSS px (the drawing keeps its viewBox in points)."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue().decode("utf-8")
    text = _ROOT_SIZE.sub(
        lambda m: f'{m[1]}width="{_px(float(m[2]) / 72)}" height="{_px(float(m[3]) / 72)}"',
        text,
        count=1,
    )
    return text.encode("utf-8")


def _text_size(text: str, points: float) -> tuple[float, float]:
    """Width and height of one line of `text` in points, as matplotlib lays it out for SVG: at
    least as tall as "lp", descent included."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    font = FontProperties(size=points)
    width, height, _ = text_to_path.get_text_width_height_descent(text, font, ismath=False)
    _, line, _ = text_to_path.get_text_width_height_descent("lp", font, ismath=False)
    return width, max(height, line)


def _tick_labels(axis: Any) -> list[str]:
    """The major tick labels `axis` will show within its view."""
    low, high = sorted(axis.get_view_interval())
    ticks = [v for v in axis.get_major_locator()() if low <= v <= high]
    return [label for label in axis.get_major_formatter().format_ticks(ticks) if label]


def _fit_title(parts: Sequence[str], tail: str, room: float) -> str:
    """`parts` joined with `tail`, the first part shortened until the title fits `room` pt."""
    head, rest = parts[0], "".join(parts[1:])
    for limit in (len(head), 60, 48, 36, 24, 16, 8):
        title = f"{_drawn(head, limit)}{rest}{tail}"
        if _text_size(title, RC["axes.titlesize"])[0] <= room:
            return title
    return f"{_drawn(head, 8)}{rest}{tail}"


def _legend_columns(keys: Sequence[_Key], columns: int) -> list[tuple[float, list[_Key]]]:
    """`keys` filled column by column into `columns` columns: each column's width in points
    (sample, gap and its widest text) and its keys."""
    rows = math.ceil(len(keys) / columns)
    font = RC["legend.fontsize"]
    return [
        (
            KEY_LENGTH_PT + KEY_GAP_PT + max(_text_size(k.label, font)[0] for k in chunk),
            list(chunk),
        )
        for chunk in (keys[start : start + rows] for start in range(0, len(keys), rows))
    ]


def _draw_legend(
    figure: MplFigure, layout: list[tuple[float, list[_Key]]], x: float, y: float
) -> None:
    """The legend, drawn from its top-left corner (`x`, `y`, points from the figure's lower
    left): matplotlib's own legend costs a third of a figure's drawing time."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Affine2D

    points = Affine2D().scale(1 / 72) + figure.dpi_scale_trans
    font = RC["legend.fontsize"]
    row = _text_size("lp", font)[1]
    for width, keys in layout:
        for number, key in enumerate(keys):
            middle = y - number * (row + ROW_GAP_PT) - row / 2
            if key.band:
                figure.add_artist(
                    Rectangle(
                        (x, middle - KEY_BAND_PT / 2),
                        KEY_LENGTH_PT,
                        KEY_BAND_PT,
                        transform=points,
                        color=CONTROL_FILL,
                        alpha=CONTROL_ALPHA,
                        linewidth=0,
                    )
                )
            if key.line:
                figure.add_artist(
                    Line2D(
                        [x, x + KEY_LENGTH_PT / 2, x + KEY_LENGTH_PT],
                        [middle] * 3,
                        transform=points,
                        color=key.colour,
                        linestyle=key.linestyle,
                        linewidth=key.linewidth,
                        marker=key.marker,
                        markersize=key.markersize,
                        markevery=[1],
                    )
                )
            figure.text(
                x + KEY_LENGTH_PT + KEY_GAP_PT,
                middle,
                key.label,
                transform=points,
                va="center_baseline",
                fontsize=font,
            )
        x += width + COLUMN_GAP_PT


def _arrange(
    figure: MplFigure,
    ax: Axes,
    keys: list[_Key],
    side_texts: Sequence[str],
    title: tuple[Sequence[str], str],
    title_pad: float = 6.0,
) -> tuple[float, float]:
    """Lay the figure out from the sizes of its texts, in points: the title above the axes,
    their tick labels and axis labels left of and below them, then right of them the
    `side_texts` and the legend (in as many columns as its height needs; the figure widens when
    they would leave the axes too narrow, and grows taller past `MAX_LEGEND_COLUMNS` columns).
    Returns the figure's size in inches."""
    import matplotlib

    rc = matplotlib.rcParams
    width, height = WIDTH_IN * 72, HEIGHT_IN * 72
    tick = rc["xtick.major.size"] + rc["xtick.major.pad"]
    label_height = _text_size("lp", rc["axes.labelsize"])[1] + rc["axes.labelpad"]
    top = height - MARGIN_PT - _text_size("lp", RC["axes.titlesize"])[1] - title_pad
    bottom = MARGIN_PT + _text_size("0", RC["xtick.labelsize"])[1] + tick + label_height
    tick_widths = [_text_size(t, RC["ytick.labelsize"])[0] for t in _tick_labels(ax.yaxis)]
    left = MARGIN_PT + max(tick_widths, default=0.0) + tick + label_height

    side = max((_text_size(t, RC["font.size"])[0] for t in side_texts), default=0.0)
    side = side + 12 if side else 0.0
    row = _text_size("lp", RC["legend.fontsize"])[1] + ROW_GAP_PT
    columns = max(1, min(MAX_LEGEND_COLUMNS, math.ceil(len(keys) * row / (top - MARGIN_PT))))
    layout = _legend_columns(keys, columns) if keys else []
    legend_width = sum(w for w, _ in layout) + COLUMN_GAP_PT * len(layout)
    taller = max(len(k) for _, k in layout) * row - ROW_GAP_PT - (top - MARGIN_PT) if keys else 0
    if taller > 0:  # more runs than even the widest legend holds
        height, top = height + taller, top + taller
    # keep the axes at least 45% of the width right of the y labels
    width = max(width, left + 0.45 * (width - left) + side + legend_width + MARGIN_PT)
    figure.set_size_inches(width / 72, height / 72)
    right = width - MARGIN_PT - legend_width - side
    ax.set_position(
        (left / width, bottom / height, (right - left) / width, (top - bottom) / height)
    )
    _draw_legend(figure, layout, right + side + COLUMN_GAP_PT, top)
    parts, tail = title
    # y given: the title sits at `title_pad` above the axes, with no search for ticks above
    ax.set_title(_fit_title(parts, tail, width - left - MARGIN_PT), pad=title_pad, y=1.0)
    return width / 72, height / 72


def _loss_svg(curves: Sequence[LossCurve]) -> Drawn:
    """The training-loss figure, its alt text and its size in inches."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, NullFormatter

    figure, ax = _new_figure()
    series = []
    for curve in curves:
        count = min(len(curve.steps), len(curve.losses))
        steps = np.asarray(list(curve.steps)[:count], dtype=float)
        values = np.array(
            [v if _finite(v) else np.nan for v in list(curve.losses)[:count]], dtype=float
        )
        series.append((steps, values))
    finite = np.concatenate([v[np.isfinite(v)] for _, v in series] or [np.array([])])
    log_scale = bool(finite.size and finite.min() > 0)
    log_scale = log_scale and bool(finite.max() > LOG_SCALE_SPAN * finite.min())
    if log_scale:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())

    keys: list[_Key] = []
    events: list[tuple[float, float, str, str, str, str]] = []  # x, y, marker, text, gid, colour
    for index, (curve, (steps, values)) in enumerate(zip(curves, series, strict=True)):
        style = _style(index)
        good = np.flatnonzero(np.isfinite(values))
        ax.plot(
            steps,
            values,
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=LINE_WIDTH,
            marker="o" if good.size == 1 else None,  # a line of one point is not seen
            markersize=4,
            gid=f"loss-run-{index}",
        )
        label = _drawn(curve.run, NAME_CHARS)
        if curve.diverged:
            label += " (diverged)"
            where = _divergence(steps, values, finite)
            if where:
                events.append((*where, "x", "diverged", f"diverged-{index}", style["color"]))
        if curve.unfinished:
            reason = _drawn(curve.unfinished, NAME_CHARS)
            label += f" ({reason})"
            if good.size:
                last = good[-1]
                point = (float(steps[last]), float(values[last]))
                events.append((*point, "o", reason, f"unfinished-{index}", style["color"]))
        if not good.size:
            label += " (no finite loss)"
        keys.append(_Key(label, style["color"], style["linestyle"]))

    starts = [float(s[0]) for s, _ in series if len(s)]
    ends = [float(s[-1]) for s, _ in series if len(s)]
    span = (min([*starts, 0.0]), max([*ends, *(e for c in curves for e in c.epoch_ends), 1.0]))
    _mark_events(ax, events, span)
    labelled = _epoch_boundaries(ax, curves, span)
    if not finite.size:
        ax.text(0.5, 0.5, "no finite loss values", transform=ax.transAxes, ha="center")
    ax.set_xlabel("global step (optimizer steps)")
    scale = ", log scale" if log_scale else ""
    ax.set_ylabel(f"training loss (cross-entropy per token{scale})")
    title = (["Training loss by global step"], "")
    size = _arrange(figure, ax, keys, (), title, title_pad=20.0 if labelled else 6.0)

    alt = f"Training loss against global step, one line per run ({len(curves)} runs)"
    diverged = [c.run for c in curves if c.diverged]
    unfinished = [f"{c.run} ({c.unfinished})" for c in curves if c.unfinished]
    if diverged:
        alt += f"; diverged: {_names(diverged)}"
    if unfinished:
        alt += f"; unfinished: {_names(unfinished)}"
    if log_scale:
        alt += "; logarithmic loss axis"
    return _svg_bytes(figure), alt + ".", size


def _divergence(steps: Any, values: Any, finite: Any) -> tuple[float, float] | None:
    """Where to mark a diverged run: its first non-finite step, at the last finite loss before
    it (the highest finite loss when there is none); else its last finite point."""
    import numpy as np

    good = np.flatnonzero(np.isfinite(values))
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        before = good[good < bad[0]]
        if before.size:
            return float(steps[bad[0]]), float(values[before[-1]])
        top = float(finite.max()) if finite.size else 1.0
        return float(steps[bad[0]]), top
    if good.size:
        return float(steps[good[-1]]), float(values[good[-1]])
    return None


def _mark_events(
    ax: Axes, events: list[tuple[float, float, str, str, str, str]], span: tuple[float, float]
) -> None:
    """A marker where each diverged run broke off (×) and each unfinished run stopped (○), with
    its text beside it while there are few enough to stay legible."""
    for x, y, marker, text, gid, colour in events:
        ax.plot(
            [x],
            [y],
            linestyle="none",
            marker=marker,
            markersize=9,
            markeredgewidth=2.2,
            markerfacecolor="none" if marker == "o" else colour,
            markeredgecolor=colour,
            gid=f"{gid}-marker",
            zorder=4,
        )
        if len(events) <= DIRECT_LABELS:
            late = x > span[0] + 0.7 * (span[1] - span[0])  # text to the left near the end
            ax.annotate(
                text,
                (x, y),
                xytext=(-7 if late else 7, 5),
                textcoords="offset points",
                ha="right" if late else "left",
                color=colour,
                fontsize=10,
                gid=f"{gid}-label",
            )


def _epoch_boundaries(ax: Axes, curves: Sequence[LossCurve], span: tuple[float, float]) -> bool:
    """Light vertical lines where epochs end, and "epoch k" above each epoch's span of steps.
    The epoch a boundary ends is what most runs ending an epoch there say (ties: the earlier).
    Returns whether any label was drawn above the axes."""
    from matplotlib.transforms import blended_transform_factory

    index_at: dict[int, Counter[int]] = {}
    for curve in curves:
        for epoch, step in enumerate(curve.epoch_ends):
            index_at.setdefault(int(step), Counter())[epoch] += 1
    if not index_at:
        return False
    boundaries = sorted(index_at)
    for number, step in enumerate(boundaries):
        ax.axvline(step, color=BOUNDARY_COLOUR, linewidth=0.9, zorder=0, gid=f"epoch-end-{number}")
    left, right = span
    spans = []
    previous = left
    for step in boundaries:
        epoch = min(index_at[step].items(), key=lambda item: (-item[1], item[0]))[0]
        spans.append((previous, float(step), epoch))
        previous = float(step)
    if right > previous:
        spans.append((previous, right, spans[-1][2] + 1))
    width = max(right - left, 1.0)
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    drawn = False
    for start, end, epoch in spans:
        if (end - start) / width < 0.08:  # too narrow for its label
            continue
        ax.annotate(
            f"epoch {epoch}",
            ((start + end) / 2, 1.0),
            xycoords=transform,
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=10,
            color=QUIET_TEXT,
            annotation_clip=False,
            gid=f"epoch-label-{epoch}",
        )
        drawn = True
    return drawn


def _metric_svg(task: TaskFigure) -> Drawn:
    """One task's metric-by-epoch figure, its alt text and its size in inches."""
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.ticker import FixedLocator, MaxNLocator

    figure, ax = _new_figure()
    keys: list[_Key] = []
    epochs = sorted({p.epoch for s in task.series for p in s.points})
    count = len(task.series)
    dodge = min(0.06, 0.3 / max(count - 1, 1))  # side by side, so intervals do not hide others
    for index, series in enumerate(task.series):
        style = _style(index)
        offset = (index - (count - 1) / 2) * dodge
        points = sorted(series.points, key=lambda p: p.epoch)
        x = np.array([p.epoch + offset for p in points], dtype=float)
        y = np.array([p.value if _finite(p.value) else np.nan for p in points], dtype=float)
        key = _Key(
            _drawn(series.run, NAME_CHARS) + (" (best)" if series.best else ""),
            style["color"],
            style["linestyle"],
            BEST_LINE_WIDTH if series.best else LINE_WIDTH,
            style["marker"],
            7 if series.best else 5,
        )
        zorder = 3 if series.best else 2
        ax.plot(
            x,
            y,
            color=key.colour,
            linestyle=key.linestyle,
            marker=key.marker,
            markersize=key.markersize,
            linewidth=key.linewidth,
            zorder=zorder,
            gid=f"metric-run-{index}",
        )
        bars = [
            [(xi, p.value - _extent(p.value, p.low)), (xi, p.value + _extent(p.high, p.value))]
            for xi, p in zip(x, points, strict=True)
            if _finite(p.value) and (_finite(p.low) or _finite(p.high))
        ]
        if bars:
            collection = LineCollection(
                bars,
                colors=style["color"],
                linewidths=2.0 if series.best else 1.2,
                zorder=zorder,
                gid=f"metric-ci-{index}",
            )
            ax.add_collection(collection, autolim=False)  # the limits, more cheaply:
            ax.update_datalim([end for bar in bars for end in bar])
        if not np.isfinite(y).any():
            key = dataclasses.replace(key, label=key.label + " (no value)")
        keys.append(key)

    side = []
    for index, control in enumerate(task.controls):
        linestyle = CONTROL_STYLES[index % len(CONTROL_STYLES)]
        name = _drawn(control.run, SIDE_CHARS)
        if _finite(control.low) and _finite(control.high):
            ax.axhspan(
                control.low,
                control.high,
                color=CONTROL_FILL,
                alpha=CONTROL_ALPHA,
                linewidth=0,
                zorder=0,
                gid=f"control-band-{index}",
            )
        if _finite(control.value):
            ax.axhline(
                control.value,
                color=CONTROL_COLOUR,
                linestyle=linestyle,
                linewidth=1.4,
                zorder=1,
                gid=f"control-line-{index}",
            )
            side.append((control.value, name, index))
        else:
            label = f"{_drawn(control.run, NAME_CHARS)} (no value)"
            keys.append(_Key(label, line=False, band=True))
    if side:
        keys.append(
            _Key(
                "without epochs, 95% interval",
                linestyle="--",
                linewidth=1.4,
                band=True,
            )
        )

    if epochs:
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
        if len(epochs) <= 12 and epochs == list(range(epochs[0], epochs[-1] + 1)):
            ax.xaxis.set_major_locator(FixedLocator(epochs))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.set_xlim(-0.5, 0.5)
        ax.xaxis.set_major_locator(FixedLocator([0]))
    ax.set_ylim(*ax.get_ylim())  # fixed now, so the control labels can be spaced

    direction = "higher is better" if task.higher_is_better else "lower is better"
    metric = _short(task.metric, 40)
    ax.set_xlabel("epoch (0-indexed)")
    ax.set_ylabel(_unit_label(task.metric))
    title = ([task.task, f": {_drawn(task.metric, 40)} by epoch"], f" ({direction})")
    size = _arrange(figure, ax, keys, [name for _, name, _ in side], title)
    _label_controls(ax, side, size[1])

    alt = (
        f"{metric} by epoch on task {_short(task.task, 80)} ({direction}), one line per run "
        f"with 95% intervals ({len(task.series)} runs)"
    )
    best = [s.run for s in task.series if s.best]
    if best:
        alt += f"; best: {_names(best)}"
    if task.controls:
        alt += (
            f"; runs without epochs drawn as flat bands: {_names([c.run for c in task.controls])}"
        )
    return _svg_bytes(figure), alt + ".", size


def _label_controls(ax: Axes, controls: list[tuple[float, str, int]], height_in: float) -> None:
    """Each control's name just right of the axes at its value, nudged up so none overlap."""
    from matplotlib.transforms import blended_transform_factory

    low, high = ax.get_ylim()
    axes_points = ax.get_position().height * height_in * 72
    gap = 13.0 / axes_points * (high - low)
    transform = blended_transform_factory(ax.transAxes, ax.transData)
    placed = -math.inf
    for value, name, index in sorted(controls):
        placed = max(value, placed + gap)
        ax.annotate(
            name,
            (1.0, value),
            xycoords=transform,
            xytext=(5, (placed - value) / (high - low) * axes_points),
            textcoords="offset points",
            va="center",
            ha="left",
            fontsize=10,
            color=CONTROL_COLOUR,
            annotation_clip=False,
            gid=f"control-label-{index}",
        )


def _replace_files(
    folder: Path,
    contents: dict[str, bytes],
    keep: set[str] | None = None,
    manifest: dict[str, Any] | None = None,
) -> None:
    """Write each file to a temporary beside it, then rename them all into place; afterwards
    remove the files of this module's naming that were neither written nor kept this time.
    The folder is created only when there is something to write. The manifest (what each
    figure was drawn from) is written last, or removed when there is none."""
    import json

    keep = keep or set()
    if not contents and not keep and not folder.is_dir():
        return
    if manifest is not None:
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        contents = {**contents, MANIFEST_FILE: text.encode("utf-8")}
    folder.mkdir(parents=True, exist_ok=True)
    temps: dict[str, str] = {}
    try:
        for name, data in contents.items():
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
            temps[name] = temp
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
    except BaseException:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    for name, temp in temps.items():
        os.replace(temp, folder / name)
    for entry in sorted(folder.iterdir()):
        own = _OWN_FILE.match(entry.name) or entry.name == MANIFEST_FILE
        if own and entry.name not in contents and entry.name not in keep and not entry.is_dir():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
