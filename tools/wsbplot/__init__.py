"""Plot wsbench results: PNG files and one report.html that shows them.

    tools/plot.py RUN_DIR_OR_CSV... --out DIR

Inputs are run folders written by tools/matrix.py (summary.csv, cells.csv,
machine.json, intervals/, hlog/), loadgen CSV files (loadgen --csv), and
Google Benchmark results of bench-core (JSON, or CSV from
--benchmark_format=csv); a run folder's bench-core*.json files are taken too.

Figures:
  throughput-*.png   responses/s against connections (log x), one line per
                     model; and bars comparing sizes and protocols
  spectrum-*.png     latency percentile spectra on HdrHistogram's 1/(1-p)
                     axis, from each cell's .hlog (through hdrtool report)
  timeseries-*.png   per-second throughput and p99 of representative cells
  resources-*.png    server CPU per request, threads, peak memory against
                     connections, and memory per held connection
  bench-*.png        bench-core results as bar charts

A cell measured several times (tools/matrix.py --repeat) is drawn at the
median of its repetitions with its confidence interval as error bars (the
spectra and time series show the repetition with the median throughput), and
report.html opens with the run's verdicts (verdicts.csv, or computed from the
rows) in sentences.

Native and Wine figures never share an axis: every figure of Winsock models
run under Wine is a separate panel (or file) whose title says so, and their
legend entries end in "(Wine)". The rows of loadgen.exe (tools/matrix.py
--platform windows) are two more platforms, each with its own panels and
files: "windows" (on Windows, "(Windows)") and "windows-wine" (loadgen.exe and
the server both under Wine, "(loadgen.exe, Wine)"); see platforms.py.

The code is this package: load.py reads the inputs, figures/ makes one
kind of chart per module, html.py writes report.html, cli.py is the command
line. Uses Debian's python3-matplotlib (run with /usr/bin/python3); PyPI is not
needed. Exit status: 0 done, 1 nothing plottable or an input unreadable,
2 usage error.
"""
