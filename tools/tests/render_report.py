#!/usr/bin/python3
"""Renders report.html of results/fixture-tiny in headless Chromium and checks
what a reader would see: every image loads (naturalWidth > 0), the verdicts
are the first section, and a click on the throughput column sorts the table.

    /usr/bin/python3 tools/tests/render_report.py [--hdrtool PATH]

Exit status: 0 passed, 1 failed, 77 skipped (no chromium here: install
Debian's chromium package to run it).
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "results" / "fixture-tiny"

# Runs in the page once it has loaded; leaves its findings as JSON in a <pre>.
PROBE = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var heads = document.querySelectorAll('table.sortable th');
  var col = Array.from(heads).findIndex(function (th) {
    return th.textContent.indexOf('responses/s') === 0; });
  heads[col].click();
  var values = Array.from(document.querySelectorAll('table.sortable tbody tr')).map(
    function (tr) { var v = tr.cells[col].dataset.v; return v === undefined ? null : +v; });
  var h2 = document.querySelector('h2');
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                .map(function (i) { return i.getAttribute('src'); }),
    first_heading: h2 ? h2.id : null,
    sorted: values});
  document.body.appendChild(pre);
});
</script>
"""


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("render_report: skipped: no chromium on PATH (apt-get install chromium)")
        return 77
    hdrtool = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--hdrtool" else None
    out = Path(tempfile.mkdtemp(prefix="wsb-render-"))
    try:
        argv = [sys.executable, str(ROOT / "tools" / "plot.py"), str(FIXTURE), "--out", str(out)]
        subprocess.run(argv + (["--hdrtool", hdrtool] if hdrtool else []), check=True,
                       capture_output=True, timeout=300)
        page = out / "probe.html"
        page.write_text((out / "report.html").read_text().replace("</body>", PROBE + "</body>"))
        dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                              "--allow-file-access-from-files", "--virtual-time-budget=10000",
                              "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        m = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S)
        if not m:
            print("render_report: FAILED: the page's probe did not run (no result in the DOM)")
            return 1
        found = json.loads(m.group(1).replace("&quot;", '"'))
        problems = []
        if found["images"] == 0 or found["broken"]:
            problems.append(f"{found['images']} images, broken: {found['broken']}")
        if found["first_heading"] != "verdicts":
            problems.append(f"first section is {found['first_heading']}, not the verdicts")
        numbers = [v for v in found["sorted"] if v is not None]
        if not numbers or numbers != sorted(numbers):
            problems.append(f"throughput column not sorted after a click: {found['sorted']}")
        for p in problems:
            print(f"render_report: FAILED: {p}")
        if not problems:
            print(f"render_report: {found['images']} images loaded, verdicts first, table sorts")
        return 1 if problems else 0
    finally:
        shutil.rmtree(out)


if __name__ == "__main__":
    sys.exit(main())
