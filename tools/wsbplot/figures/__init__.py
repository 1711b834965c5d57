"""One module per kind of chart; each plot_* function appends what it saves to
the figures list that html.py turns into report.html."""
