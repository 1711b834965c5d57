#!/usr/bin/python3
"""tools/matrix.py's chat workload, planned without running anything: the
cells it makes (groups of 10 and 100 by default, protocol chat whatever
--protocols says), the cells it skips (fewer users than two groups), the
loadgen command of a chat cell, and the usage errors.

    /usr/bin/python3 tools/tests/test_matrix_chat.py
"""

import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import matrix  # noqa: E402
from helpers import run_tool  # noqa: E402


def plan(*argv):
    args = matrix.build_parser().parse_args(list(argv))
    return args, matrix.plan(args)


class MatrixChatTest(unittest.TestCase):
    def test_default_groups_of_10_and_100(self):
        _args, (_preset, cells, skipped) = plan("--models", "epoll", "--workloads", "chat",
                                                "--connections", "200", "--no-wine")
        self.assertEqual([c.name for c in cells], ["native-epoll-chat-chat-c200-s16-g10",
                                                   "native-epoll-chat-chat-c200-s16-g100"])
        self.assertEqual(skipped, [])
        self.assertTrue(all(c.protocol == "chat" and c.group in (10, 100) for c in cells))

    def test_one_group_is_skipped_with_its_reason(self):
        _args, (_p, cells, skipped) = plan("--models", "epoll", "--workloads", "chat",
                                           "--connections", "50,100,101", "--no-wine")
        self.assertEqual([c.name for c in cells], ["native-epoll-chat-chat-c50-s16-g10",
                                                   "native-epoll-chat-chat-c100-s16-g10",
                                                   "native-epoll-chat-chat-c101-s16-g10",
                                                   "native-epoll-chat-chat-c101-s16-g100"])
        self.assertEqual([o.cell.name for o in skipped], ["native-epoll-chat-chat-c50-s16-g100",
                                                          "native-epoll-chat-chat-c100-s16-g100"])
        self.assertIn("private messages need another group", skipped[0].reason)
        # Without private messages one group is a workload like any other.
        _args, (_p, cells, skipped) = plan("--models", "epoll", "--workloads", "chat",
                                           "--connections", "50", "--private-share", "0",
                                           "--no-wine")
        self.assertEqual(len(cells), 2)
        self.assertEqual(skipped, [])

    def test_chat_cells_speak_chat_beside_other_workloads(self):
        _args, (_p, cells, _s) = plan("--models", "epoll", "--workloads", "closed,chat",
                                      "--protocols", "echo", "--connections", "200",
                                      "--group-sizes", "20", "--no-wine")
        self.assertEqual([c.name for c in cells], ["native-epoll-echo-closed-c200-s16",
                                                   "native-epoll-chat-chat-c200-s16-g20"])

    def test_command_of_a_chat_cell(self):
        cell = matrix.Cell("native", "epoll", "chat", "chat", 200, 16, 100)
        settings = matrix.Settings({"native": 0.5}, {"native": 2.0}, {"native": 1.0}, 10, 1.0,
                                   None, private_share=0.3)
        argv, _seconds = matrix.cell_command(cell, "L", settings, Path("/b"), Path("/w"),
                                             Path("/o"))
        joined = " ".join(argv)
        self.assertIn("--protocol chat", joined)
        self.assertIn("--group-size 100", joined)
        self.assertIn("--private-share 0.3", joined)
        self.assertIn("--spawn /b/server-epoll", joined)

    def test_usage_errors_exit_2(self):
        for extra in (["--private-share", "1.5"], ["--group-sizes", "0"],
                      ["--workloads", "gossip"]):
            proc = run_tool("matrix.py", "--models", "epoll", "--workloads", "chat", "--dry-run",
                            *extra, timeout=60)
            self.assertEqual(proc.returncode, 2, extra)
            self.assertIn("matrix.py", proc.stderr, extra)


if __name__ == "__main__":
    unittest.main()
