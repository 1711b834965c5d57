"""Where a row was measured: its platform, from loadgen's CSV columns.

  native        a Linux model driven by the Linux loadgen
  wine          a Winsock model under Wine, driven by the Linux loadgen
                (server_platform says wine)
  windows       a Winsock model driven by loadgen.exe on Windows
  windows-wine  the same two programs, both under Wine (tools/matrix.py
                --platform windows --launcher wine)

A Windows loadgen (engine iocp, or a spawned .exe) calls the server it spawns
"native" from its own point of view, so its rows are told apart by the
engine and the program, and by loadgen's own platform column (wine when it
ran under Wine). Standard library only: tools/matrix.py imports it too.
"""

PLATFORMS = ("native", "wine", "windows", "windows-wine")

# Appended to a model's name in legends and tables.
PLATFORM_SUFFIX = {"native": "", "wine": " (Wine)", "windows": " (Windows)",
                   "windows-wine": " (loadgen.exe, Wine)"}

PLATFORM_TITLE = {"native": "native Linux models",
                  "wine": "Winsock models under Wine (not Windows)",
                  "windows": "Winsock models on Windows, driven by loadgen.exe",
                  "windows-wine": "Winsock models driven by loadgen.exe, both under Wine "
                                  "(not Windows)"}


def platform_of(row):
    """The platform of one loadgen CSV row (a dict of its columns)."""
    server = row.get("server_platform") or ""
    own = row.get("platform") or "native"
    if server == "wine":
        return "wine"
    windows_loadgen = (row.get("engine") == "iocp"
                       or (row.get("server_program") or "").lower().endswith(".exe"))
    if windows_loadgen:
        return "windows-wine" if own == "wine" else "windows"
    return server or own


def is_wine(platform):
    """Whether the row's server ran under Wine (its figures are Wine's)."""
    return platform in ("wine", "windows-wine")


def is_winsock(platform):
    return platform != "native"
