// Times org.HdrHistogram.Histogram.recordValue on the same values as
// BM_HdrRecord in bench_hdr.cpp (same splitmix64 generator, seed and
// integer-only distributions), for bench/core/hdr_vs_java.sh.
//
//   java -cp /usr/share/java/hdrhistogram.jar HdrRecordTiming.java [ROUNDS]
//
// Prints one line per distribution:
//   java <distribution> min_ns=<best round> median_ns=<median round>
// in nanoseconds per recorded value of this thread's CPU time (so that other
// load on the machine does not count), after a warm-up long enough for the
// JIT to compile the loop.

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

import org.HdrHistogram.Histogram;

public class HdrRecordTiming {
    static final int VALUES = 1 << 16;
    static final String[] NAMES = {"uniform", "latency", "constant"};

    static long state;

    static long next() {
        long z = (state += 0x9e3779b97f4a7c15L);
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    static long[] makeValues(int distribution) {
        state = 0x5eed0000L + distribution;
        long[] values = new long[VALUES];
        for (int i = 0; i < VALUES; i++) {
            switch (distribution) {
                case 0:
                    values[i] = 1 + Long.remainderUnsigned(next(), 1_000_000L);
                    break;
                case 1: {
                    long base = 20_000 + Long.remainderUnsigned(next(), 10_000L);
                    int doublings = Long.numberOfTrailingZeros(next() | (1L << 20));
                    values[i] = base << doublings;
                    break;
                }
                default:
                    values[i] = 123_456;
            }
        }
        return values;
    }

    // One pass over the values; kept in its own method so that the JIT
    // compiles exactly the loop that is timed.
    static void recordAll(Histogram h, long[] values) {
        for (long v : values) h.recordValue(v);
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int passesPerRound = 200;
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (int d = 0; d < NAMES.length; d++) {
            long[] values = makeValues(d);
            Histogram h = new Histogram(1, 3_600_000_000_000L, 3);
            for (int i = 0; i < 400; i++) recordAll(h, values);  // warm-up
            double[] perValue = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                long t0 = threads.getCurrentThreadCpuTime();
                for (int p = 0; p < passesPerRound; p++) recordAll(h, values);
                long t1 = threads.getCurrentThreadCpuTime();
                perValue[r] = (double) (t1 - t0) / ((double) passesPerRound * VALUES);
            }
            if (h.getTotalCount() <= 0) throw new IllegalStateException("nothing recorded");
            Arrays.sort(perValue);
            System.out.printf(java.util.Locale.US, "java %s min_ns=%.3f median_ns=%.3f%n",
                    NAMES[d], perValue[0], perValue[rounds / 2]);
        }
    }
}
