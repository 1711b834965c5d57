#!/usr/bin/python3
"""The statistics behind summary.csv's intervals and verdicts.csv
(tools/wsbplot/stats.py), and matrix.py's interleaved schedule.

    /usr/bin/python3 tools/tests/test_stats.py
"""

import random
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matrix  # noqa: E402
from wsbplot.stats import median_interval, shift_interval  # noqa: E402
from wsbplot.verdicts import compute_verdicts, sentences  # noqa: E402


class MedianIntervalTest(unittest.TestCase):
    def test_levels_follow_the_binomial_distribution(self):
        # 3 values: min to max covers the median with 1 - 2/8 = 75 %.
        self.assertEqual(median_interval([3, 1, 2]), (2, 1, 3, 0.75))
        # 5 values: 1 - 2/32.
        self.assertEqual(median_interval([5, 1, 4, 2, 3]), (3, 1, 5, 0.9375))
        # 10 values reach 95 %: the 2nd and 9th order statistics (97.9 %).
        med, lo, hi, level = median_interval(range(1, 11))
        self.assertEqual((med, lo, hi), (5.5, 2, 9))
        self.assertAlmostEqual(level, 1 - 2 * 11 / 1024)

    def test_one_value_has_no_interval(self):
        self.assertEqual(median_interval([7.0]), (7.0, None, None, None))


class ShiftIntervalTest(unittest.TestCase):
    def test_exact_mann_whitney_p_value(self):
        # Complete separation, 5 against 5: p = 2 / C(10, 5) = 0.00794.
        ratio, lo, hi, level, p = shift_interval([10, 11, 12, 13, 14], [5, 6, 7, 8, 9])
        self.assertAlmostEqual(p, 2 / 252)
        self.assertGreater(lo, 1)
        # P(U <= 2) = 4/252: the 3rd smallest and 3rd largest of the 25 ratios.
        self.assertAlmostEqual(level, 1 - 2 * 4 / 252)

    def test_three_against_three_reaches_90_percent(self):
        ratio, lo, hi, level, p = shift_interval([10, 11, 12], [5, 6, 7])
        self.assertAlmostEqual(level, 0.9)
        self.assertAlmostEqual(lo, 10 / 7)
        self.assertAlmostEqual(hi, 12 / 5)

    def test_false_positive_rate_under_no_difference(self):
        # Same distribution on both sides: a significant verdict is a false
        # positive; with 5 against 5 its rate is at most 1 - 96.8 %.
        rng = random.Random(7)
        trials, wrong = 3000, 0
        for _ in range(trials):
            a = [rng.lognormvariate(0, 0.3) for _ in range(5)]
            b = [rng.lognormvariate(0, 0.3) for _ in range(5)]
            _r, lo, hi, _level, _p = shift_interval(a, b)
            wrong += lo > 1 or hi < 1
        self.assertLess(wrong / trials, 0.05)


class ScheduleTest(unittest.TestCase):
    def test_rounds_interleave_and_rotate_the_models(self):
        cells = [matrix.Cell("native", m, "closed", "echo", c, 16)
                 for c in (1, 10) for m in ("poll", "epoll", "uring")]
        order = matrix.schedule(cells, 3)
        self.assertEqual(len(order), 18)
        # Every cell once per round, rounds in order.
        self.assertEqual([k for _c, k in order], [1] * 6 + [2] * 6 + [3] * 6)
        first = [[c.model for c, k in order if k == rnd and c.connections == 1]
                 for rnd in (1, 2, 3)]
        self.assertEqual(first, [["poll", "epoll", "uring"], ["epoll", "uring", "poll"],
                                 ["uring", "poll", "epoll"]])


def rows(platform, conns, model, values):
    return [{"server_platform": platform, "server_model": model, "mode": "closed",
             "protocol": "echo", "size_min": "16", "size_max": "16", "connections": str(conns),
             "cell": f"{platform}-{model}-c{conns}", "requests_per_s": str(v)} for v in values]


def chat_rows(model, group, values):
    return [{"server_platform": "native", "server_model": model, "mode": "closed",
             "protocol": "chat", "size_min": "16", "size_max": "16", "connections": "200",
             "group_size": str(group), "cell": f"native-{model}-chat-g{group}",
             "requests_per_s": "1000", "deliveries_per_s": str(v)} for v in values]


class VerdictTest(unittest.TestCase):
    def test_chat_cells_are_compared_by_deliveries_per_group_size(self):
        # Equal requests/s everywhere: only the deliveries can tell them apart.
        data = (chat_rows("epoll", 10, [300, 301, 302, 303, 304])
                + chat_rows("threads", 10, [100, 101, 102, 103, 104])
                + chat_rows("epoll", 100, [2000, 2001, 2002, 2003, 2004])
                + chat_rows("threads", 100, [1999, 2000, 2001, 2002, 2003.5]))
        verdicts = compute_verdicts(data)
        by_group = {v["group_size"]: v for v in verdicts}
        self.assertEqual(sorted(by_group), ["10", "100"])
        self.assertEqual({v["metric"] for v in verdicts}, {"deliveries_per_s"})
        self.assertEqual((by_group["10"]["model_a"], by_group["10"]["verdict"]),
                         ("threads", "slower"))
        self.assertEqual(by_group["100"]["verdict"], "no significant difference")
        text = sentences(verdicts)
        self.assertEqual(len(text), 2)
        self.assertTrue(text[0].startswith(
            "At 200 connections (chat, 16 B, groups of 10, closed loop) epoll delivers 196 % "
            "more messages than threads"), text[0])


    def test_sentences_name_the_faster_model_and_the_pairs_that_do_not_differ(self):
        data = (rows("native", 1000, "poll", [100, 101, 102, 103, 104])
                + rows("native", 1000, "epoll", [100.5, 101.5, 102.5, 103.5, 104.5])
                + rows("native", 1000, "uring", [120, 121, 122, 123, 124])
                + rows("wine", 10, "select", [10, 11, 12, 13, 14])
                + rows("wine", 10, "iocp", [10.2, 11.2, 12.2, 13.2, 14.2]))
        verdicts = compute_verdicts(data)
        by_pair = {(v["platform"], v["model_a"], v["model_b"]): v["verdict"] for v in verdicts}
        self.assertEqual(by_pair, {("native", "poll", "epoll"): "no significant difference",
                                   ("native", "poll", "uring"): "slower",
                                   ("native", "epoll", "uring"): "slower",
                                   ("wine", "select", "iocp"): "no significant difference"})
        text = sentences(verdicts)
        self.assertEqual(len(text), 2)
        self.assertTrue(text[0].startswith(
            "At 1,000 connections (echo, 16 B, closed loop) uring serves 20 % more requests "
            "than poll (97 % CI "), text[0])
        self.assertTrue(text[0].endswith("; poll and epoll do not differ."), text[0])
        self.assertTrue(text[1].startswith("At 10 connections (echo, 16 B, closed loop) (Wine) "
                                           "select and iocp do not differ"), text[1])


if __name__ == "__main__":
    unittest.main()
