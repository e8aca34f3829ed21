package io.fusedopt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.text.DecimalFormatSymbols;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

/** The demo chart: nested coinciding curves, shared y ranges, one tick format, and the test-accuracy panels. */
class DemoChartsTest {
    private static final long STEPS_PER_EPOCH = 10;

    @BeforeAll
    static void headless() {
        System.setProperty("java.awt.headless", "true");
    }

    private static RunResult run(String optimizer, ScheduleChoice schedule, double[] loss, double[] accuracy) {
        OptimizerChoice o = OptimizerChoice.named(optimizer);
        int epochs = loss.length - 1;
        List<EpochPoint> curve = new ArrayList<>();
        for (int e = 0; e <= epochs; e++) {
            curve.add(new EpochPoint(e, e * STEPS_PER_EPOCH, loss[e], accuracy[e], o.lr()));
        }
        return new RunResult(o, schedule, schedule.build(epochs, STEPS_PER_EPOCH, o.lr()), STEPS_PER_EPOCH, curve,
                1.0);
    }

    private static float width(XYChart chart, String label) {
        XYSeries s = chart.getSeriesMap().get(label);
        return s.getLineStyle().getLineWidth();
    }

    private static String label(String optimizer) {
        return OptimizerChoice.named(optimizer).label();
    }

    @Test
    void coincidingCurvesAreDrawnNestedFirstWidest() {
        double[] same = {2.3, 0.8, 0.3, 0.1};
        double[] acc = {0.1, 0.8, 0.9, 0.95};
        List<RunResult> runs = List.of(
                run("sgd", ScheduleChoice.CONSTANT, new double[] {2.3, 0.2, 0.02, 0.002}, acc),
                run("adam", ScheduleChoice.CONSTANT, same, acc),
                run("adamw", ScheduleChoice.CONSTANT, same.clone(), acc),
                run("swats", ScheduleChoice.CONSTANT, new double[] {2.3, 0.8, 0.3, 0.1000001}, acc));
        XYChart chart = DemoCharts.lossChart(runs, ScheduleChoice.CONSTANT, DemoCharts.lossRange(runs));
        float alone = width(chart, label("sgd"));
        float adam = width(chart, label("adam")), adamw = width(chart, label("adamw")), swats = width(chart, label("swats"));
        assertTrue(adam > adamw && adamw > swats, "nested widest first: " + adam + " " + adamw + " " + swats);
        assertEquals(alone, swats, "the last of a group is drawn like a curve alone");
        // Drawn in order, each narrower one on top, so a band of every colour shows.
        List<String> order = new ArrayList<>(chart.getSeriesMap().keySet());
        assertTrue(order.indexOf(label("adam")) < order.indexOf(label("adamw"))
                && order.indexOf(label("adamw")) < order.indexOf(label("swats")), order.toString());
    }

    @Test
    void separateCurvesKeepOneWidth() {
        double[] acc = {0.1, 0.8, 0.9, 0.95};
        List<RunResult> runs = List.of(
                run("sgd", ScheduleChoice.CONSTANT, new double[] {2.3, 0.2, 0.02, 0.002}, acc),
                run("adam", ScheduleChoice.CONSTANT, new double[] {2.3, 1.5, 1.0, 0.7}, new double[] {0.1, 0.5, 0.6,
                    0.7}));
        XYChart chart = DemoCharts.lossChart(runs, ScheduleChoice.CONSTANT, DemoCharts.lossRange(runs));
        assertEquals(width(chart, label("sgd")), width(chart, label("adam")));
    }

    @Test
    void panelsOfOneQuantityShareTheirYRange() {
        List<RunResult> runs = List.of(
                run("adam", ScheduleChoice.CONSTANT, new double[] {2.3, 0.5, 0.1}, new double[] {0.1, 0.9, 0.97}),
                run("adam", ScheduleChoice.SGDR, new double[] {2.3, 0.05, 0.003}, new double[] {0.1, 0.6, 0.91}));
        double[] loss = DemoCharts.lossRange(runs);
        double[] accuracy = DemoCharts.accuracyRange(runs);
        for (ScheduleChoice s : ScheduleChoice.values()) {
            XYChart l = DemoCharts.lossChart(runs, s, loss);
            assertEquals(loss[0], l.getStyler().getYAxisMin());
            assertEquals(loss[1], l.getStyler().getYAxisMax());
            XYChart a = DemoCharts.accuracyChart(runs, s, accuracy);
            assertEquals(accuracy[0], a.getStyler().getYAxisMin());
            assertEquals(accuracy[1], a.getStyler().getYAxisMax());
        }
        assertArrayEquals(new double[] {0.001, 10}, loss, 1e-12, "whole decades around 0.003 .. 2.3");
        // The second half's lowest accuracy (0.91) and the highest (0.97), rounded outwards to 1% with room.
        assertArrayEquals(new double[] {0.90, 0.98}, accuracy, 1e-12);
    }

    @Test
    void testAccuracyIsPlottedForEveryTrainedEpoch() {
        double[] acc = {0.1, 0.82, 0.93, 0.96};
        List<RunResult> runs = List.of(run("yogi", ScheduleChoice.SGDR, new double[] {2.3, 0.4, 0.1, 0.05}, acc));
        XYChart chart = DemoCharts.accuracyChart(runs, ScheduleChoice.SGDR, DemoCharts.accuracyRange(runs));
        XYSeries s = chart.getSeriesMap().get(label("yogi"));
        assertArrayEquals(new double[] {1, 2, 3}, s.getXData());
        assertArrayEquals(new double[] {0.82, 0.93, 0.96}, s.getYData());
    }

    @Test
    void everyLogAxisReadsAsPlainDecimals() {
        List<RunResult> runs = List.of(
                run("adam", ScheduleChoice.CONSTANT, new double[] {2.3, 0.5, 0.1}, new double[] {0.1, 0.9, 0.97}),
                run("adam", ScheduleChoice.SGDR, new double[] {2.3, 0.05, 0.003}, new double[] {0.1, 0.6, 0.91}));
        XYChart loss = DemoCharts.lossChart(runs, ScheduleChoice.CONSTANT, DemoCharts.lossRange(runs));
        XYChart lr = DemoCharts.lrChart(runs, 1640);
        assertTrue(loss.getStyler().isYAxisLogarithmic() && lr.getStyler().isYAxisLogarithmic());
        String pattern = loss.getStyler().getYAxisDecimalPattern();
        assertEquals(pattern, lr.getStyler().getYAxisDecimalPattern());
        DecimalFormat f = new DecimalFormat(pattern, DecimalFormatSymbols.getInstance(Locale.ROOT));
        assertEquals("0.00001", f.format(1e-5));
        assertEquals("0.001", f.format(1e-3));
        assertEquals("1", f.format(1.0));
        assertEquals("97%", DemoCharts.percent(0.97));
        assertEquals("97.5%", DemoCharts.percent(0.975));
    }

    @Test
    void thePngHasLossAccuracyAndRatePanels(@TempDir Path dir) throws Exception {
        List<RunResult> runs = List.of(
                run("adam", ScheduleChoice.CONSTANT, new double[] {2.3, 0.5, 0.1}, new double[] {0.1, 0.9, 0.97}),
                run("adam", ScheduleChoice.SGDR, new double[] {2.3, 0.05, 0.003}, new double[] {0.1, 0.6, 0.91}));
        Path png = dir.resolve("chart.png");
        DemoCharts.write(runs, png);
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(2 * 820, image.getWidth());
        assertEquals(520 + 440 + 440, image.getHeight());
    }
}
