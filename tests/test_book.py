"""The Jupyter Book builds with warnings as errors and renders offline in a real browser.

One build per session (module-scoped fixture) into a temporary folder, so the repository's own
``_build`` is never touched. The browser checks use headless Chromium: MathJax must typeset from the
local copy (``sphinx-mathjax-offline``), the notebook page must show its figures, and the numbers glued
from the notebook must appear in the theory page.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from mixup_repro import doctor

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
THEORY_PAGE = Path("book/theory/lemma31.html")
NOTEBOOK_PAGE = Path("book/notebooks/lemma31_fig2.html")
NOTEBOOK_FIGURES = ("fig-lemma31-training", "fig-lemma31-remainder")
GLUE_KEYS = ("identity_gap", "r3_max_abs_relu", "r3_tanh_final", "remainder_rel_final_logistic", "fig2_max_rel_gap",
             "verdict_identity", "verdict_fig2")
VERDICT_KEYS = 2  # the last two keys are verdicts, the others numbers
BUILD_TIMEOUT_S = 900
BROWSER_TIMEOUT_S = 120
# Flags measured to work offline and in containers (no sandbox, no GPU, no first-run dialogs); the user-data-dir is
# added per call so no profile state leaks between pages.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
)


def _missing(what: str, how: str) -> None:
    """Fail in CI (a missing tool there is a broken setup), skip on a developer machine."""
    message = f"{what} not found; {how}"
    if doctor.in_ci():
        pytest.fail(message)
    pytest.skip(message)


def _jupyter_book() -> Path:
    exe = Path(sys.executable).parent / "jupyter-book"
    if not exe.exists():
        _missing("jupyter-book", "install the book extra: pip install -e '.[book]'")
    return exe


def _chromium() -> str:
    path = doctor.find_chromium()
    if path is None:
        _missing("chromium", f"to run the browser checks: {doctor.apt_command(doctor.CHROMIUM_PACKAGE)}")
    return path


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the book once into a temporary folder and return its ``_build/html``."""
    out = tmp_path_factory.mktemp("book")
    cmd = [str(_jupyter_book()), "build", str(REPO), "--path-output", str(out), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=REPO)
    assert proc.returncode == 0, (
        f"book build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    html = out / "_build" / "html"
    assert (html / "index.html").exists()
    return html


def _rendered_dom(page: Path) -> str:
    """The page's DOM after scripts ran in headless Chromium (MathJax typesetting included)."""
    browser = _chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=BROWSER_TIMEOUT_S,
        )
    # Chromium prints harmless dbus errors on stderr; only the exit code and the DOM matter.
    assert proc.returncode == 0, f"chromium failed on {page}: {proc.stderr[-2000:]}"
    assert "</html>" in proc.stdout, f"chromium returned no DOM for {page}"
    return proc.stdout


@pytest.fixture(scope="module")
def theory_dom(html_dir: Path) -> str:
    return _rendered_dom(html_dir / THEORY_PAGE)


@pytest.fixture(scope="module")
def notebook_dom(html_dir: Path) -> str:
    return _rendered_dom(html_dir / NOTEBOOK_PAGE)


def _is_number(text: str) -> bool:
    try:
        float(text.removesuffix("%"))
    except ValueError:
        return False
    return True


def test_book_pages_exist(html_dir: Path) -> None:
    for page in (THEORY_PAGE, NOTEBOOK_PAGE, Path("book/intro.html"), Path("book/references.html")):
        assert (html_dir / page).exists(), f"missing page {page}"


def test_no_page_loads_remote_scripts(html_dir: Path) -> None:
    """Offline reading: no script or stylesheet comes from the network (MathJax included)."""
    remote = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE)
    offenders = [p.relative_to(html_dir) for p in html_dir.rglob("*.html") if remote.search(p.read_text("utf-8"))]
    assert not offenders, f"pages loading remote scripts or styles: {offenders}"


def test_theory_math_renders_offline(theory_dom: str) -> None:
    """MathJax typeset the page from the local copy: without it the page shows raw TeX."""
    assert theory_dom.count("<mjx-container") > 0, "no typeset math on the theory page (MathJax did not run offline)"


def test_theory_has_proof_directives(theory_dom: str) -> None:
    """sphinx-proof rendered the definition, the lemma and its proof (classes as sphinx-proof 0.4 writes them)."""
    for classes in ("proof definition admonition", "proof lemma admonition", "proof admonition"):
        assert f'class="{classes}"' in theory_dom, f"no rendered block with class {classes!r}"


def test_notebook_page_shows_figures(html_dir: Path, notebook_dom: str) -> None:
    page = html_dir / NOTEBOOK_PAGE
    srcs = re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', notebook_dom)
    local = [unquote(urlparse(src).path) if src.startswith("file:") else src for src in srcs]
    figures = [Path(src) if src.startswith("/") else (page.parent / src).resolve() for src in local]
    figures = [f for f in figures if "_images" in f.parts]
    assert len(figures) >= len(NOTEBOOK_FIGURES), f"expected >= {len(NOTEBOOK_FIGURES)} figures, found {srcs}"
    missing = [str(f) for f in figures if not f.is_file()]
    assert not missing, f"figure files missing from the build: {missing}"
    for name in NOTEBOOK_FIGURES:
        assert f'id="{name}"' in notebook_dom, f"figure {name!r} is not labelled on the notebook page"


def test_theory_cites_notebook_figures(theory_dom: str) -> None:
    for name in NOTEBOOK_FIGURES:
        assert f"lemma31_fig2.html#{name}" in theory_dom, f"theory page does not reference figure {name!r}"


def test_glued_numbers_appear(theory_dom: str, notebook_dom: str) -> None:
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', theory_dom)
    assert len(pasted) == len(GLUE_KEYS), f"expected {len(GLUE_KEYS)} glued values, found {pasted}"
    # Every value is a formatted number (not a repr such as "np.float64(...)") except the verdicts.
    not_numbers = [text for text in pasted if not _is_number(text)]
    assert len(not_numbers) == VERDICT_KEYS and set(not_numbers) <= {"PASS", "FAIL"}, f"glued values: {pasted}"
    for dom in (theory_dom, notebook_dom):
        assert not re.search(r"glue[^<]{0,120}(error|warning|not found|failed)", dom, re.IGNORECASE)


class _Anchors(HTMLParser):
    """Collects the ids of a page and the targets of its links (``<a href>``)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def _parse(page: Path, cache: dict[Path, _Anchors]) -> _Anchors:
    if page not in cache:
        parser = _Anchors()
        parser.feed(page.read_text("utf-8"))
        cache[page] = parser
    return cache[page]


def test_no_broken_internal_links(html_dir: Path) -> None:
    """Every link inside the site leads to a file of the build, and every #fragment to an id on that page."""
    cache: dict[Path, _Anchors] = {}
    broken = []
    pages = sorted(html_dir.rglob("*.html"))
    for page in pages:
        for href in _parse(page, cache).hrefs:
            url = urlparse(href)
            if url.scheme or href.startswith("//"):
                continue  # external (http, https, mailto, javascript): not checked offline
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(html_dir)}: {href} (no such file)")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in _parse(target, cache).ids:
                broken.append(f"{page.relative_to(html_dir)}: {href} (no such anchor)")
    assert len(pages) > 10
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


# --- Quality gates over every page of the table of contents -------------------------------------------

SCREENSHOT_DIR = REPO / "_build" / "screenshots"
"""Where the browser test writes one screenshot per page, for people to look at."""
CONSOLE_ERRORS = re.compile(r"Uncaught|Failed to load resource|ERR_FILE_NOT_FOUND|Refused to", re.IGNORECASE)


def _toc_pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return pages


def _browse(page: Path) -> tuple[str, list[str]]:
    """The rendered DOM and the browser console lines of one page."""
    browser = _chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S,
        )
    assert proc.returncode == 0, f"chromium failed on {page}: {proc.stderr[-2000:]}"
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


def _screenshot(page: Path, out: Path) -> None:
    browser = _chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", "--window-size=1280,1600",
             "--hide-scrollbars", page.as_uri()],
            capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S,
        )


@pytest.mark.parametrize("doc", _toc_pages())
def test_every_page_renders_cleanly_in_the_browser(html_dir: Path, doc: str) -> None:
    page = html_dir / f"{doc}.html"
    assert page.exists(), f"{doc} is in _toc.yml but was not built"
    dom, console = _browse(page)
    assert "<main" in dom and "<h1" in dom, f"{doc}: no rendered main content"
    errors = [line for line in console if CONSOLE_ERRORS.search(line)]
    assert not errors, f"{doc}: JavaScript console errors:\n" + "\n".join(errors)
    if 'class="math' in page.read_text():
        assert dom.count("<mjx-container") > 0, f"{doc}: math present but not typeset (MathJax offline?)"
    for src in re.findall(r'<img[^>]+src="([^"]+)"', dom):
        if src.startswith("data:"):
            continue
        assert not urlparse(src).scheme.startswith("http"), f"{doc}: remote image {src}"
        target = Path(unquote(urlparse(src).path)) if src.startswith("file:") else (page.parent / unquote(src))
        assert target.exists(), f"{doc}: image {src} does not load"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / f"{doc.replace('/', '__')}.png"
    _screenshot(page, shot)
    assert shot.exists() and shot.stat().st_size > 10_000, f"{doc}: no screenshot written to {shot}"


# -- robustness chapter (static HTML: glue and figure labels need no script) ------------------------

ROBUSTNESS_NOTEBOOKS = {
    "thm31_logistic": ("fig-thm31-chain", "fig-thm31-radius", "fig-thm31-eps"),
    "thm32_relu": ("fig-thm32-chain", "fig-thm32-radius", "fig-thm32-eps"),
    "fig1a_fgsm": ("fig-fig1a",),
}
ROBUSTNESS_THEORY = {"thm31": "thm31_logistic", "thm32": "thm32_relu"}


@pytest.mark.parametrize("name", ROBUSTNESS_NOTEBOOKS)
def test_robustness_notebook_pages_label_their_figures(html_dir: Path, name: str) -> None:
    html = (html_dir / "book" / "notebooks" / f"{name}.html").read_text("utf-8")
    for fig in ROBUSTNESS_NOTEBOOKS[name]:
        assert f'id="{fig}"' in html, f"figure {fig!r} is not labelled on {name}"
    assert len(re.findall(r'<img\b[^>]*src="[^"]*_images/', html)) >= len(ROBUSTNESS_NOTEBOOKS[name])


@pytest.mark.parametrize("page", ROBUSTNESS_THEORY)
def test_robustness_theory_pages_glue_values_and_cite_figures(html_dir: Path, page: str) -> None:
    html = (html_dir / "book" / "theory" / f"{page}.html").read_text("utf-8")
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', html)
    assert len(pasted) >= 8 and all(text.strip() for text in pasted), f"glued values: {pasted}"
    assert all(_is_number(t) or t in {"PASS", "FAIL", "INFO"} for t in pasted), f"glued values: {pasted}"
    notebook = ROBUSTNESS_THEORY[page]
    for fig in ROBUSTNESS_NOTEBOOKS[notebook]:
        if fig.endswith(("chain", "eps", "radius")) and f"{notebook}.html#{fig}" not in html:
            pytest.fail(f"{page} does not reference figure {fig}")
    assert 'class="proof theorem admonition"' in html


# -- the generalization chapter ------------------------------------------------------------------------

GENERALIZATION_PAGE = Path("book/theory/generalization.html")
GENERALIZATION_FIGURES = {
    "glm_regularization": ("fig-glm-constant", "fig-glm-regularizer", "fig-glm-optima", "fig-glm-tracking",
                           "fig-glm-gap", "fig-glm-exponents"),
    "rademacher": ("fig-rademacher", "fig-rademacher-samples", "fig-rademacher-direct"),
    "relu_rademacher": ("fig-relu-spectrum", "fig-relu-complexity", "fig-relu-samples"),
    "generalization_gap": ("fig-generalization-gap",),
    "fig3_training_error": ("fig-fig3",),
}


def test_generalization_notebook_pages_label_their_figures(html_dir: Path) -> None:
    for notebook, figures in GENERALIZATION_FIGURES.items():
        html = (html_dir / "book" / "notebooks" / f"{notebook}.html").read_text("utf-8")
        for name in figures:
            assert f'id="{name}"' in html, f"figure {name!r} is not labelled on the {notebook} page"


def test_generalization_theory_page_glues_and_cites(html_dir: Path) -> None:
    html = (html_dir / GENERALIZATION_PAGE).read_text("utf-8")
    pasted = re.findall(r'<span class="pasted-text">([^<]*)</span>', html)
    assert len(pasted) >= 20, f"expected the chapter's glued values, found {pasted}"
    assert not re.search(r"glue[^<]{0,120}(error|warning|not found|failed)", html, re.IGNORECASE)
    assert all(text.strip() and "np.float" not in text for text in pasted), pasted
    assert "sec-relu-class" in html and "reconstructed" in html
    for notebook, figures in GENERALIZATION_FIGURES.items():
        for name in figures:
            assert f"{notebook}.html#{name}" in html, f"theory page does not reference figure {name!r}"
    for directive in ("proof proposition admonition", "proof theorem admonition", "proof corollary admonition"):
        assert f'class="{directive}"' in html, f"no rendered {directive!r}"


def test_the_files_the_book_links_to_exist() -> None:
    """Links into the repository (tests, source files) on GitHub name files of this checkout (no build needed)."""
    prefix = "https://github.com/mixup-repro/mixup-repro/blob/main/"
    missing = []
    for page in sorted((REPO / "book").rglob("*.md")):
        for path in re.findall(re.escape(prefix) + r"([^)#\s]+)", page.read_text("utf-8")):
            if not (REPO / path).is_file():
                missing.append(f"{page.relative_to(REPO)}: {path}")
        for path in re.findall(r"`(tests/test_\w+\.py)`", page.read_text("utf-8")):
            if not (REPO / path).is_file():
                missing.append(f"{page.relative_to(REPO)}: {path}")
    assert not missing, "links to files that do not exist:\n" + "\n".join(missing)


def test_the_claims_ledger_is_linked_from_the_introduction_and_every_theory_page(html_dir: Path) -> None:
    """In the prose, not only in the navigation: a link whose text is the page's title."""
    ledger = (html_dir / "book" / "ledger.html").read_text("utf-8")
    assert ledger.count("<table") >= 2 and "paper claims: " in ledger
    link = '<a class="reference internal" href="{}"><span class="doc">Claims ledger</span></a>'
    assert link.format("ledger.html") in (html_dir / "book" / "intro.html").read_text("utf-8")
    pages = sorted((html_dir / "book" / "theory").glob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        assert link.format("../ledger.html") in page.read_text("utf-8"), f"{page.name} does not link the claims ledger"
