"""Distribution-free statistics for repeated measurements (standard library only).

Throughput of one cell varies by 20-40 % from run to run on a shared or
virtual machine, and some cells are bimodal, so nothing here assumes a normal
distribution:

- median_interval: the median of a cell's repetitions and an exact
  order-statistic confidence interval for it (the interval between two order
  statistics, whose coverage follows from the binomial distribution).
- shift_interval: the Hodges-Lehmann estimate of the ratio between two models
  (the median of every ratio a_i / b_j) and its exact confidence interval
  from the Mann-Whitney rank-sum distribution; the difference is significant
  when the interval excludes a ratio of 1, which is the exact two-sided
  Mann-Whitney test at the same level.

Few repetitions cannot reach every level: 3 repetitions of a cell give at
most a 75 % interval for its median, and 3 against 3 at most a 90 % interval
for a ratio. Both functions therefore return the level they actually reached
(the highest that does not exceed 95 %, or the widest interval with less),
and callers print it.
"""

import math

TARGET_LEVEL = 0.95


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def _binomial_tail(n, k):
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n


def median_interval(values, level=TARGET_LEVEL):
    """(median, low, high, level reached) of values; None bounds for n < 2.

    The interval [x_(k), x_(n+1-k)] (1-based order statistics) covers the
    median with probability 1 - 2 P(X <= k-1), X ~ Binomial(n, 1/2). The
    largest k whose coverage is still at least `level` is taken; when even
    k = 1 (minimum to maximum) falls short, that widest interval is returned
    with its lower coverage.
    """
    v = sorted(x for x in values if x is not None)
    n = len(v)
    if n == 0:
        return None, None, None, None
    if n < 2:
        return v[0], None, None, None
    best = 1
    for k in range(1, n // 2 + 1):
        if 1 - 2 * _binomial_tail(n, k - 1) >= level:
            best = k
    return median(v), v[best - 1], v[n - best], 1 - 2 * _binomial_tail(n, best - 1)


def _rank_sum_counts(n, m):
    """counts[u]: how many of the C(n+m, n) orderings give Mann-Whitney U = u."""
    # Standard recurrence: f(n, m, u) = f(n-1, m, u-m) + f(n, m-1, u).
    table = {}

    def f(a, b):
        if (a, b) in table:
            return table[(a, b)]
        if a == 0 or b == 0:
            res = [1]
        else:
            x, y = f(a - 1, b), f(a, b - 1)
            res = [0] * (a * b + 1)
            for u, c in enumerate(x):
                res[u + b] += c
            for u, c in enumerate(y):
                res[u] += c
        table[(a, b)] = res
        return res

    return f(n, m)


def shift_interval(a, b, level=TARGET_LEVEL):
    """Ratio a/b between two samples of positive values.

    Returns (estimate, low, high, level reached, p value) where estimate is
    the Hodges-Lehmann ratio (the median of every a_i / b_j) and
    [low, high] the exact Mann-Whitney interval for it, or None when a sample
    has fewer than 2 values. p is the exact two-sided Mann-Whitney p value.
    """
    a = [x for x in a if x is not None and x > 0]
    b = [x for x in b if x is not None and x > 0]
    n, m = len(a), len(b)
    if n < 2 or m < 2:
        return None
    diffs = sorted(math.log(x) - math.log(y) for x in a for y in b)
    counts = _rank_sum_counts(n, m)
    total = math.comb(n + m, n)
    cumulative, acc = [], 0
    for c in counts:
        acc += c
        cumulative.append(acc / total)
    # [d_(k), d_(nm+1-k)] covers the shift with probability
    # 1 - 2 P(U <= k-1); take the largest k that keeps the level.
    best = 1
    for k in range(1, n * m // 2 + 1):
        if 1 - 2 * cumulative[k - 1] >= level:
            best = k
    reached = 1 - 2 * cumulative[best - 1]
    u = sum(1 for x in a for y in b if x > y) + 0.5 * sum(1 for x in a for y in b if x == y)
    tail = min(u, n * m - u)
    p = min(1.0, 2 * cumulative[int(math.floor(tail))])
    return (math.exp(median(diffs)), math.exp(diffs[best - 1]), math.exp(diffs[n * m - best]),
            reached, p)
