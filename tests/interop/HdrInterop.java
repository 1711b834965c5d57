// Reference side of the HdrHistogram interop test: produces, with the Java
// HdrHistogram jar, the same outputs that hdr_interop_driver produces with
// wsb::hdr, so that a plain diff compares the two byte for byte.
//
// Run as a single source file (JDK 11+), in the UTC time zone so that dates
// print as ours do:
//   java -Duser.timezone=UTC -cp hdrhistogram.jar HdrInterop.java SCRIPT
// SCRIPT holds one command per line (fields separated by single spaces):
//   run PLAN OUT             per-case outputs (summary, .hgrm, CSV, log lines,
//                            coordinated-omission correction) into OUT
//   writelog PLAN OUT        one .hlog with an interval per case into OUT
//   dumplog HLOG OUT         decode every interval of HLOG into OUT
//   process OUT ARGS...      HistogramLogProcessor ARGS, in this JVM, into OUT
// PLAN lines: "case NAME LOWEST HIGHEST SIGFIGS VALUES_FILE EXPECTED_INTERVAL".
// Keep the output formats in step with hdr_interop_driver.cpp.

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.FileReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.HdrHistogram.HistogramLogProcessor;
import org.HdrHistogram.HistogramLogReader;
import org.HdrHistogram.HistogramLogWriter;
import org.HdrHistogram.EncodableHistogram;

public class HdrInterop {
    // Both drivers query these percentiles (including out-of-range ones).
    static final double[] PERCENTILES = {
        -1.0, 0.0, 0.0001, 1.0, 10.0, 25.0, 33.3333, 40.0, 50.0, 66.6667, 75.0, 90.0,
        99.0, 99.9, 99.99, 99.999, 100.0, 101.0
    };
    static final double[] SCALES = {1.0, 1000.0, 1000000.0};
    static final long LOG_START_MS = 1441812279474L;

    static final class Case {
        String name;
        long lowest;
        long highest;
        int sigfigs;
        String valuesFile;
        long interval;
        long[] values;
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.US);
        for (String line : Files.readAllLines(Paths.get(args[0]))) {
            if (line.isEmpty() || line.startsWith("#")) continue;
            String[] f = line.split(" ");
            switch (f[0]) {
                case "run": run(readPlan(f[1]), f[2]); break;
                case "writelog": writeLog(readPlan(f[1]), f[2]); break;
                case "dumplog": dumpLog(f[1], f[2]); break;
                case "process": process(f[1], Arrays.copyOfRange(f, 2, f.length)); break;
                default: throw new IllegalArgumentException("unknown command: " + line);
            }
        }
    }

    static List<Case> readPlan(String path) throws IOException {
        List<Case> cases = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(path))) {
            String[] f = line.split(" ");
            if (f.length != 7 || !f[0].equals("case")) continue;
            Case c = new Case();
            c.name = f[1];
            c.lowest = Long.parseLong(f[2]);
            c.highest = Long.parseLong(f[3]);
            c.sigfigs = Integer.parseInt(f[4]);
            c.valuesFile = f[5];
            c.interval = Long.parseLong(f[6]);
            c.values = readValues(c.valuesFile);
            cases.add(c);
        }
        return cases;
    }

    static long[] readValues(String path) throws IOException {
        List<String> lines = Files.readAllLines(Paths.get(path));
        long[] values = new long[lines.size()];
        for (int i = 0; i < values.length; i++) values[i] = Long.parseLong(lines.get(i).trim());
        return values;
    }

    static Histogram build(Case c) {
        Histogram h = new Histogram(c.lowest, c.highest, c.sigfigs);
        for (long v : c.values) h.recordValue(v);
        return h;
    }

    static String hex(double d) {
        return String.format("%016x", Double.doubleToRawLongBits(d));
    }

    static String base64(Histogram h) {
        ByteBuffer buffer = ByteBuffer.allocate(h.getNeededByteBufferCapacity());
        int length = h.encodeIntoCompressedByteBuffer(buffer, 9);
        return Base64.getEncoder().encodeToString(Arrays.copyOf(buffer.array(), length));
    }

    static void summary(PrintStream out, Histogram h) {
        out.print("total=" + h.getTotalCount() + " min=" + h.getMinValue() + " max=" + h.getMaxValue()
                + " mean=" + hex(h.getMean()) + " stddev=" + hex(h.getStdDeviation()) + "\n");
        for (int i = 0; i < PERCENTILES.length; i++) {
            out.print("p[" + i + "]=" + h.getValueAtPercentile(PERCENTILES[i]) + "\n");
        }
    }

    // The lines both logs begin with; hdr_interop_driver.cpp writes the same.
    static void writeLogHeader(HistogramLogWriter w) {
        w.outputComment("[Logged with interop]");
        w.outputLogFormatVersion();
        w.outputStartTime(LOG_START_MS);
        w.setBaseTime(LOG_START_MS);
        w.outputBaseTime(LOG_START_MS);
        w.outputLegend();
    }

    static void run(List<Case> cases, String outPath) throws IOException {
        try (PrintStream out = new PrintStream(new FileOutputStream(outPath), false, "UTF-8")) {
            for (Case c : cases) {
                Histogram h = build(c);
                out.print("### case " + c.name + " " + c.lowest + " " + c.highest + " " + c.sigfigs + "\n");
                out.print("## summary\n");
                summary(out, h);
                for (double scale : SCALES) {
                    out.print("## hgrm " + scale + "\n");
                    h.outputPercentileDistribution(out, 5, scale, false);
                    out.print("## csv " + scale + "\n");
                    h.outputPercentileDistribution(out, 5, scale, true);
                }
                out.print("## hlog\n");
                HistogramLogWriter w = new HistogramLogWriter(out);
                writeLogHeader(w);
                h.setStartTimeStamp(LOG_START_MS + 1000);
                h.setEndTimeStamp(LOG_START_MS + 2500);
                w.outputIntervalHistogram(h);
                w.outputIntervalHistogram(0.0, 1.0, h, 1.0);
                h.setTag("tagA");
                w.outputIntervalHistogram(3.25, 4.5, h, 1000.0);
                h.setTag(null);
                out.print("## corrected " + c.interval + "\n");
                Histogram corrected = new Histogram(c.lowest, c.highest, c.sigfigs);
                for (long v : c.values) corrected.recordValueWithExpectedInterval(v, c.interval);
                out.print(corrected.getTotalCount() + " " + base64(corrected) + "\n");
                out.print("## copycorrected " + c.interval + "\n");
                Histogram copied = h.copyCorrectedForCoordinatedOmission(c.interval);
                out.print(copied.getTotalCount() + " " + base64(copied) + "\n");
                summary(out, copied);
            }
        }
    }

    // One interval per case; every third case is tagged, timestamps are
    // deterministic.
    static void writeLog(List<Case> cases, String outPath) throws IOException {
        try (PrintStream out = new PrintStream(new FileOutputStream(outPath), false, "UTF-8")) {
            HistogramLogWriter w = new HistogramLogWriter(out);
            writeLogHeader(w);
            for (int i = 0; i < cases.size(); i++) {
                Histogram h = build(cases.get(i));
                h.setStartTimeStamp(LOG_START_MS + i * 1000L + 7);
                h.setEndTimeStamp(LOG_START_MS + i * 1000L + 1004);
                if (i % 3 == 2) h.setTag("T" + (i % 2));
                w.outputIntervalHistogram(h);
            }
        }
    }

    static void dumpLog(String logPath, String outPath) throws IOException {
        try (PrintStream out = new PrintStream(new FileOutputStream(outPath), false, "UTF-8")) {
            HistogramLogReader reader = new HistogramLogReader(logPath);
            int n = 0;
            EncodableHistogram e;
            while ((e = reader.nextIntervalHistogram()) != null) {
                Histogram h = (Histogram) e;
                out.print("interval " + n++ + " tag=" + (h.getTag() == null ? "-" : h.getTag())
                        + " start_ms=" + h.getStartTimeStamp() + " end_ms=" + h.getEndTimeStamp()
                        + " config=" + h.getLowestDiscernibleValue() + "/" + h.getHighestTrackableValue()
                        + "/" + h.getNumberOfSignificantValueDigits() + "\n");
                summary(out, h);
                for (HistogramIterationValue v : h.recordedValues()) {
                    out.print(v.getValueIteratedTo() + " " + v.getCountAtValueIteratedTo() + "\n");
                }
            }
            out.print("start_time_s=" + hex(reader.getStartTimeSec()) + "\n");
        }
    }

    static void process(String outPath, String[] args) throws Exception {
        PrintStream saved = System.out;
        try (PrintStream out = new PrintStream(new FileOutputStream(outPath), false, "UTF-8")) {
            System.setOut(out);
            new HistogramLogProcessor(args).run();
        } finally {
            System.setOut(saved);
        }
    }
}
