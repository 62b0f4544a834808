"""The built HTML documentation reads offline, formulas included.

These tests look at the pages in ``docs/_build/html``, which ``.ci/run`` builds
before it runs the tests; they are skipped where the docs have not been built
(``sphinx-build -b html docs docs/_build/html``; to check pages built elsewhere,
name their folder in ``KERAS_SPIKING_DOCS_HTML``). The formulas are checked in
headless Chromium, where one is installed.
"""

import html.parser
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

HTML_DIR = pathlib.Path(
    os.environ.get(
        "KERAS_SPIKING_DOCS_HTML",
        pathlib.Path(__file__).resolve().parent.parent / "docs" / "_build" / "html",
    )
).resolve()
PAGES = sorted(HTML_DIR.rglob("*.html")) if HTML_DIR.is_dir() else []
needs_build = pytest.mark.skipif(
    not PAGES, reason=f"the docs are not built in {HTML_DIR}"
)

# The start of a formula's element, and what follows it: MathJax puts an
# <mjx-container> there when it typesets the formula; until then it holds the TeX.
MATH = re.compile(r'<(?:span|div) class="math[ "][^>]*>\s*(.{0,14})', re.DOTALL)
# A URL that a browser would fetch from the network: absolute or protocol-relative.
REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
# In CSS, what is fetched: url(...) and @import "...".
CSS_FETCH = re.compile(r"""(?:url\(\s*|@import\s+)["']?([^"')\s]+)""", re.IGNORECASE)


class _Fetches(html.parser.HTMLParser):
    """Collect what a page makes the browser load: scripts, stylesheets, images..."""

    ATTRIBUTES = {
        "script": "src",
        "link": "href",
        "img": "src",
        "iframe": "src",
        "source": "src",
        "embed": "src",
        "audio": "src",
        "video": "src",
    }

    def __init__(self):
        super().__init__()
        self.urls = []  # (tag, url)
        self.inline_scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get(self.ATTRIBUTES.get(tag, ""))
        if url is not None:
            self.urls.append((tag, url))
        self._in_script = tag == "script" and url is None

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.inline_scripts.append(data)


def remote_fetches(page_html):
    """What ``page_html`` loads from the network, as ``(tag, url)`` pairs.

    An inline script that names a URL (e.g. a MathJax configuration pointing its
    loader at a CDN) counts as loading it.
    """
    parser = _Fetches()
    parser.feed(page_html)
    remote = [(tag, url) for tag, url in parser.urls if REMOTE.match(url)]
    for script in parser.inline_scripts:
        remote += [("script", url) for url in re.findall(r"https?://\S+", script)]
    return remote


def test_remote_fetches_finds_what_a_browser_would_load():
    page = """
    <link rel="stylesheet" href="_static/furo.css">
    <link rel="stylesheet" href="https://example.org/a.css">
    <script src="//cdn.example.org/mathjax/tex-chtml.js"></script>
    <script defer src="_static/mathjax/tex-chtml.js"></script>
    <script>window.MathJax = {loader: {paths: {mathjax: "https://cdn.example.org"}}}
    </script>
    <img src="HTTP://example.org/x.png"> <a href="https://example.org">a link</a>
    """
    assert remote_fetches(page) == [
        ("link", "https://example.org/a.css"),
        ("script", "//cdn.example.org/mathjax/tex-chtml.js"),
        ("img", "HTTP://example.org/x.png"),
        ("script", 'https://cdn.example.org"}}}'),
    ]


@needs_build
def test_pages_load_nothing_from_the_network():
    remote = {}
    for page in PAGES:
        found = remote_fetches(page.read_text(encoding="utf-8"))
        if found:
            remote[str(page.relative_to(HTML_DIR))] = found
    for css in HTML_DIR.joinpath("_static").rglob("*.css"):
        found = [
            url
            for url in CSS_FETCH.findall(css.read_text(encoding="utf-8"))
            if REMOTE.match(url)
        ]
        if found:
            remote[str(css.relative_to(HTML_DIR))] = found
    assert not remote


NOTEBOOKS = sorted(
    (pathlib.Path(__file__).resolve().parent.parent / "docs" / "examples").glob(
        "*.ipynb"
    )
)
# A matplotlib call that makes a new figure in a notebook's code.
NEW_FIGURE = re.compile(r"\bplt\.(?:subplots|figure)\(")


@needs_build
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_figure_a_notebook_draws_is_on_its_page(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    drawn = sum(
        len(NEW_FIGURE.findall("".join(cell["source"])))
        for cell in cells
        if cell["cell_type"] == "code"
    )
    parser = _Fetches()
    parser.feed((HTML_DIR / "examples" / f"{notebook.stem}.html").read_text("utf-8"))
    images = [url for tag, url in parser.urls if tag == "img"]
    assert drawn > 0
    assert len(images) == drawn, images
    for url in images:  # each one is a file of the built site
        assert (HTML_DIR / "examples" / url).resolve().is_file(), url


@needs_build
def test_mathjax_is_bundled():
    """Pages with formulas load MathJax from ``_static``, and it is there."""
    pages_with_math = [page for page in PAGES if MATH.search(page.read_text())]
    assert pages_with_math  # the user guide and the API reference have formulas
    for page in pages_with_math:
        parser = _Fetches()
        parser.feed(page.read_text(encoding="utf-8"))
        mathjax = [url for tag, url in parser.urls if "mathjax" in url.lower()]
        assert len(mathjax) == 1, (page, mathjax)
        path = (page.parent / mathjax[0].split("?")[0]).resolve()
        assert path.is_file() and path.is_relative_to(HTML_DIR / "_static"), path


CHROMIUM = next(
    filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])),
    None,
)
PAGES_WITH_MATH = [page for page in PAGES if MATH.search(page.read_text())]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to render the pages")
@pytest.mark.parametrize(
    "page", PAGES_WITH_MATH, ids=[str(p.relative_to(HTML_DIR)) for p in PAGES_WITH_MATH]
)
def test_formulas_typeset_offline(page):
    """Chromium, unable to resolve any host name, typesets every formula."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no network
            "--virtual-time-budget=20000",  # let MathJax finish (simulated ms)
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    formulas = MATH.findall(page.read_text(encoding="utf-8"))
    rendered = MATH.findall(result.stdout)
    assert len(rendered) == len(formulas) > 0
    untypeset = [start for start in rendered if not start.startswith("<mjx-container")]
    assert not untypeset
    assert "<mjx-merror" not in result.stdout  # MathJax could not parse the TeX


# Loads each page (given after "#", comma-separated) in a frame as wide as the
# window, and lists the <pre> blocks (code, printed output) and tables that are
# wider than their box, i.e. that the reader has to scroll sideways to read.
OVERFLOW_PAGE = """<html><body><pre id="result">running</pre>
<iframe id="frame" style="width: 100%; height: 1500px; border: 0"></iframe>
<script>
const pages = decodeURIComponent(location.hash.slice(1)).split(",");
const found = [];
function check(i) {
  if (i === pages.length) {
    document.getElementById("result").textContent = "DONE\\n" + found.join("\\n");
    return;
  }
  const frame = document.getElementById("frame");
  frame.onload = () => setTimeout(() => {
    frame.contentDocument.querySelectorAll("pre, table").forEach(element => {
      if (element.scrollWidth > element.clientWidth + 1) {
        const start = element.textContent.trim().slice(0, 60).replace(/\\s+/g, " ");
        found.push(`${pages[i]}: ${element.tagName} ${element.scrollWidth}px ` +
          `in ${element.clientWidth}px: ${start}`);
      }
    });
    check(i + 1);
  }, 500);
  frame.src = pages[i];
}
check(0);
</script></body></html>
"""
# The pages that a reader reads, not the generated index, search or source pages.
READ_PAGES = [
    page
    for page in PAGES
    if page.name not in {"genindex.html", "search.html", "py-modindex.html"}
    and "_modules" not in page.parts
]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to render the pages")
@needs_build
def test_code_and_outputs_fit_the_page(tmp_path):
    """No code block, printed output or table is wider than the page's column.

    Checked at a window 1280 pixels wide, a common laptop screen.
    """
    checker = tmp_path / "overflow.html"
    checker.write_text(OVERFLOW_PAGE, encoding="utf-8")
    pages = ",".join(page.as_uri() for page in READ_PAGES)
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",  # the checker reads the pages' layout
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--window-size=1280,1500",
            f"--virtual-time-budget={5000 * len(READ_PAGES)}",
            "--dump-dom",
            f"{checker.as_uri()}#{pages}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = re.search(r'<pre id="result">DONE\n?(.*?)</pre>', result.stdout, re.S)
    assert report is not None, "the pages did not finish loading"
    assert report.group(1).strip() == ""
