package io.fusedopt.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler.LegendLayout;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Draws the demo's PNG: one training-loss panel per schedule side by side (log-scale loss against epochs), below
 * them one test-accuracy panel per schedule, and at the bottom a panel with the learning rate of every run at every
 * step (log scale). Each optimizer keeps one colour in every panel; the panels of one quantity share one y range,
 * and every axis labels its ticks the same way (plain decimals, accuracy in percent), so panels compare at a
 * glance. Curves that run on top of each other (Adam, AdamW and SWATS's Adam phase often do) are drawn nested:
 * the first one widest, each later one narrower on top of it, so that every colour stays visible. Legends sit
 * outside the plot areas so they never cover a curve.
 */
public final class DemoCharts {
    // matplotlib's "tab10": ten hues that stay distinct for most colour-vision deficiencies, one per optimizer.
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
        new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
        new Color(0xbcbd22), new Color(0x17becf)};
    private static final int PANEL_WIDTH = 820;
    private static final int LOSS_HEIGHT = 520;
    private static final int ACCURACY_HEIGHT = 440;
    private static final int LR_HEIGHT = 440;
    // Line widths: a curve alone, and the added width per curve nested under it (capped so a big group stays slim).
    private static final float LINE_WIDTH = 1.8f;
    private static final float NEST_STEP = 2.4f;
    private static final float NEST_MAX = 9f;
    // Two curves coincide, and are drawn nested, when they are closer than this share of the panel's height at
    // most of their points: about 6 pixels, less than a line and its neighbour's width.
    private static final double COINCIDE = 0.015;
    // A log axis needs positive values; a loss that rounded to zero is drawn at this floor instead of vanishing.
    private static final double LOSS_FLOOR = 1e-6;
    // Plain decimals down to the loss floor.
    private static final String LOG_TICKS = "0.#######";

    private DemoCharts() {
    }

    /**
     * Writes the chart of {@code runs} to {@code png} as a PNG, creating or replacing the file. Points that are not
     * finite (a diverged run) are left out; a run without any finite point gets no curve.
     *
     * @throws IllegalArgumentException when {@code runs} is empty
     * @throws IOException when the file cannot be written
     */
    public static void write(List<RunResult> runs, Path png) throws IOException {
        if (runs.isEmpty()) {
            throw new IllegalArgumentException("no runs to chart");
        }
        // Must be set before the first AWT class loads; harmless when the caller already did.
        System.setProperty("java.awt.headless", "true");
        List<ScheduleChoice> schedules = new ArrayList<>();
        for (RunResult r : runs) {
            if (!schedules.contains(r.scheduleChoice())) {
                schedules.add(r.scheduleChoice());
            }
        }
        int width = PANEL_WIDTH * schedules.size();
        double[] lossRange = lossRange(runs);
        double[] accuracyRange = accuracyRange(runs);
        BufferedImage image = new BufferedImage(width, LOSS_HEIGHT + ACCURACY_HEIGHT + LR_HEIGHT,
                BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            for (int s = 0; s < schedules.size(); s++) {
                XYChart loss = lossChart(runs, schedules.get(s), lossRange);
                g.drawImage(BitmapEncoder.getBufferedImage(loss), s * PANEL_WIDTH, 0, null);
                XYChart accuracy = accuracyChart(runs, schedules.get(s), accuracyRange);
                g.drawImage(BitmapEncoder.getBufferedImage(accuracy), s * PANEL_WIDTH, LOSS_HEIGHT, null);
            }
            g.drawImage(BitmapEncoder.getBufferedImage(lrChart(runs, width)), 0, LOSS_HEIGHT + ACCURACY_HEIGHT, null);
        } finally {
            g.dispose();
        }
        Path parent = png.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        if (!ImageIO.write(image, "png", png.toFile())) {
            throw new IOException("no PNG writer available for " + png);
        }
    }

    static XYChart lossChart(List<RunResult> runs, ScheduleChoice schedule, double[] range) {
        String title = "Training loss, " + scheduleName(schedule);
        XYChart chart = styled(new XYChartBuilder().width(PANEL_WIDTH).height(LOSS_HEIGHT).title(title)
                .xAxisTitle("epoch").yAxisTitle("training cross-entropy, mean over the epoch (log scale)").build());
        logarithmic(chart);
        chart.getStyler().setYAxisMin(range[0]);
        chart.getStyler().setYAxisMax(range[1]);
        List<Curve> curves = new ArrayList<>();
        for (RunResult r : runs) {
            if (r.scheduleChoice() != schedule) {
                continue;
            }
            Curve c = new Curve(r.optimizer());
            for (EpochPoint p : r.curve()) {
                if (Double.isFinite(p.trainLoss())) {
                    // An epoch's loss is a mean over the epoch, so it belongs at the epoch's middle; epoch 0 is
                    // the initial loss at 0. (This also keeps the x values unevenly spaced: for evenly spaced ones
                    // xchart takes its ticks from the data, and their labels collide beyond ~60 epochs.)
                    c.add(p.epoch() == 0 ? 0.0 : p.epoch() - 0.5, Math.max(LOSS_FLOOR, p.trainLoss()),
                            Math.log10(Math.max(LOSS_FLOOR, p.trainLoss())));
                }
            }
            curves.add(c);
        }
        draw(chart, curves, Math.log10(range[1]) - Math.log10(range[0]));
        return chart;
    }

    static XYChart accuracyChart(List<RunResult> runs, ScheduleChoice schedule, double[] range) {
        String title = "Test accuracy, " + scheduleName(schedule);
        XYChart chart = styled(new XYChartBuilder().width(PANEL_WIDTH).height(ACCURACY_HEIGHT).title(title)
                .xAxisTitle("epoch").yAxisTitle("test accuracy after the epoch").build());
        chart.getStyler().setYAxisMin(range[0]);
        chart.getStyler().setYAxisMax(range[1]);
        chart.setCustomYAxisTickLabelsFormatter(DemoCharts::percent);
        List<Curve> curves = new ArrayList<>();
        for (RunResult r : runs) {
            if (r.scheduleChoice() != schedule) {
                continue;
            }
            Curve c = new Curve(r.optimizer());
            for (EpochPoint p : r.curve()) {
                // Epoch 0 (the untrained model, at chance) is left out: it would squeeze the trained epochs into
                // the top of the panel. Each point sits at the end of its epoch, where it was measured.
                if (p.epoch() > 0 && Double.isFinite(p.testAccuracy())) {
                    c.add(p.epoch(), p.testAccuracy(), p.testAccuracy());
                }
            }
            curves.add(c);
        }
        draw(chart, curves, range[1] - range[0]);
        return chart;
    }

    /** The title's name of a schedule. */
    private static String scheduleName(ScheduleChoice schedule) {
        return schedule == ScheduleChoice.CONSTANT ? "constant learning rate"
                : "SGDR (cosine annealing, warm restarts)";
    }

    /** One optimizer's points in a panel: x, the plotted y, and y on the panel's linear scale (log10 for a log axis). */
    private static final class Curve {
        final OptimizerChoice optimizer;
        final List<Double> x = new ArrayList<>();
        final List<Double> y = new ArrayList<>();
        final List<Double> scaled = new ArrayList<>();

        Curve(OptimizerChoice optimizer) {
            this.optimizer = optimizer;
        }

        void add(double xv, double yv, double scaledY) {
            x.add(xv);
            y.add(yv);
            scaled.add(scaledY);
        }

        /** Whether this curve runs on top of {@code o}: within {@code tolerance} at more than half their points. */
        boolean coincides(Curve o, double tolerance) {
            int n = Math.min(scaled.size(), o.scaled.size()), close = 0;
            for (int i = 0; i < n; i++) {
                if (x.get(i).equals(o.x.get(i)) && Math.abs(scaled.get(i) - o.scaled.get(i)) < tolerance) {
                    close++;
                }
            }
            return n > 0 && 2 * close > n;
        }
    }

    /**
     * Adds the curves in order; a curve that coincides with later ones (see {@link #COINCIDE}) is drawn wider by one
     * step per later one, so each later curve, drawn on top, leaves a band of it visible.
     */
    private static void draw(XYChart chart, List<Curve> curves, double span) {
        int[] later = new int[curves.size()];
        for (int i = 0; i < curves.size(); i++) {
            for (int j = i + 1; j < curves.size(); j++) {
                if (curves.get(i).coincides(curves.get(j), COINCIDE * span)) {
                    later[i]++;
                }
            }
        }
        int deepest = 0;
        for (int l : later) {
            deepest = Math.max(deepest, l);
        }
        float step = deepest == 0 ? 0 : Math.min(NEST_STEP, (NEST_MAX - LINE_WIDTH) / deepest);
        for (int i = 0; i < curves.size(); i++) {
            Curve c = curves.get(i);
            if (c.x.isEmpty()) {
                continue;
            }
            XYSeries series = chart.addSeries(c.optimizer.label(), c.x, c.y);
            line(series, c.optimizer, SeriesLines.SOLID, LINE_WIDTH + step * later[i]);
        }
    }

    /** The loss panels' shared y range: every finite loss of every run, widened to whole decades. */
    static double[] lossRange(List<RunResult> runs) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (RunResult r : runs) {
            for (EpochPoint p : r.curve()) {
                if (Double.isFinite(p.trainLoss())) {
                    double v = Math.max(LOSS_FLOOR, p.trainLoss());
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
            }
        }
        if (lo > hi) {
            return new double[] {0.1, 10};
        }
        return new double[] {Math.pow(10, Math.floor(Math.log10(lo))), Math.pow(10, Math.ceil(Math.log10(hi)))};
    }

    /**
     * The accuracy panels' shared y range: from the lowest accuracy any run has in the second half of its epochs
     * to the highest of any epoch, each rounded outwards to a whole 1% (5% below 80%) with room beyond it. Late epochs are where optimizers differ by a point or
     * two; a range down to the first epochs' accuracy would press them into one band at the top. Earlier epochs
     * below the range run off the bottom of the panel.
     */
    static double[] accuracyRange(List<RunResult> runs) {
        double lo = 1, hi = 0;
        for (RunResult r : runs) {
            int epochs = r.curve().size() - 1;
            for (EpochPoint p : r.curve()) {
                if (p.epoch() > 0 && Double.isFinite(p.testAccuracy())) {
                    hi = Math.max(hi, p.testAccuracy());
                    if (2 * p.epoch() > epochs) {
                        lo = Math.min(lo, p.testAccuracy());
                    }
                }
            }
        }
        double steps = lo < 0.8 ? 20 : 100; // steps of the range per 100%: 5% or 1%
        double floor = Math.max(0, Math.floor((lo - 0.5 / steps) * steps) / steps);
        double ceiling = Math.min(1, Math.ceil((hi + 0.5 / steps) * steps) / steps);
        return new double[] {Math.min(floor, 1 - 1 / steps), Math.max(ceiling, floor + 1 / steps)};
    }

    /**
     * A log-scale y axis whose ticks read as plain decimals (1, 0.1, 0.001, 0.00001) in every panel; xchart's own
     * choice switches to {@code 1E-4} below 0.001. (Its custom tick formatters would turn the axis linear.)
     */
    private static void logarithmic(XYChart chart) {
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setYAxisDecimalPattern(LOG_TICKS);
    }

    /** The accuracy axis's tick format: a share in whole percent (or tenths where the axis is that narrow). */
    static String percent(double v) {
        double pct = 100 * v;
        return Math.abs(pct - Math.rint(pct)) < 1e-6 ? String.format(Locale.ROOT, "%.0f%%", pct)
                : String.format(Locale.ROOT, "%.1f%%", pct);
    }

    static XYChart lrChart(List<RunResult> runs, int width) {
        boolean both = runs.stream().map(RunResult::scheduleChoice).distinct().count() > 1;
        String title = "Learning rate per step" + (both ? " (solid: SGDR, dashed: constant)" : "");
        XYChart chart = styled(new XYChartBuilder().width(width).height(LR_HEIGHT).title(title)
                .xAxisTitle("epoch (SGDR changes the rate every batch)").yAxisTitle("learning rate (log scale)")
                .build());
        logarithmic(chart);
        // Most optimizers share a base rate, and their curves would hide one another: draw one curve per base
        // rate and schedule, and name in the legend the optimizers that use it.
        Map<Double, List<OptimizerChoice>> users = new TreeMap<>(Comparator.reverseOrder());
        for (RunResult r : runs) {
            List<OptimizerChoice> group = users.computeIfAbsent(r.optimizer().lr(), k -> new ArrayList<>());
            if (!group.contains(r.optimizer())) {
                group.add(r.optimizer());
            }
        }
        Set<String> drawn = new HashSet<>();
        for (RunResult r : runs) {
            double base = r.optimizer().lr();
            if (!drawn.add(base + "/" + r.scheduleChoice())) {
                continue;
            }
            boolean constant = r.scheduleChoice() == ScheduleChoice.CONSTANT;
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            if (constant) {
                x.add(0.0);
                y.add(r.schedule().lr(0, base));
                x.add((double) r.steps() / r.stepsPerEpoch());
                y.add(r.schedule().lr(r.steps() - 1, base));
            } else {
                // Step j uses its rate for the epoch interval [j, j+1) / stepsPerEpoch; it is drawn at the middle.
                // (Drawn at j/stepsPerEpoch instead, the x values of all curves would be evenly spaced, and
                // xchart then takes its ticks from the data, at odd fractions whose labels overlap.)
                for (long step = 0; step < r.steps(); step++) {
                    x.add((step + 0.5) / r.stepsPerEpoch());
                    y.add(r.schedule().lr(step, base));
                }
            }
            if (!y.stream().allMatch(v -> v > 0)) {
                continue; // a zero rate cannot be drawn on a log axis; the demo's schedules never give one
            }
            List<OptimizerChoice> group = users.get(base);
            List<String> names = new ArrayList<>();
            for (OptimizerChoice o : group) {
                names.add(o.label());
            }
            String label = rate(base) + ": " + String.join(", ", names)
                    + (constant && both ? " (constant)" : "");
            XYSeries series = chart.addSeries(label, x, y);
            // A group wears the loss-panel colour of its first optimizer, so a single-optimizer group matches.
            line(series, group.get(0), constant && both ? SeriesLines.DASH_DASH : SeriesLines.SOLID, LINE_WIDTH);
            // The colour already names the rate group; the dashed twin needs no entry of its own.
            series.setShowInLegend(!(constant && both));
        }
        chart.getStyler().setLegendPosition(LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(LegendLayout.Horizontal);
        return chart;
    }

    /** A rate in at most three significant digits without trailing zeros: 0.05, 0.001, 0.002. */
    static String rate(double lr) {
        return new BigDecimal(lr).round(new MathContext(3)).stripTrailingZeros().toPlainString();
    }

    private static XYChart styled(XYChart chart) {
        var st = chart.getStyler();
        st.setChartBackgroundColor(Color.WHITE);
        st.setPlotBackgroundColor(Color.WHITE);
        st.setPlotBorderColor(Color.GRAY);
        st.setPlotGridLinesColor(new Color(0xE0E0E0));
        st.setLegendPosition(LegendPosition.OutsideE);
        st.setLegendBorderColor(Color.LIGHT_GRAY);
        st.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        st.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        st.setChartTitleBoxVisible(false);
        st.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        st.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        st.setMarkerSize(0);
        st.setAntiAlias(true);
        return chart;
    }

    /** Colours {@code series} as {@code optimizer} and strokes it like {@code style}, {@code width} pixels wide. */
    private static void line(XYSeries series, OptimizerChoice optimizer, BasicStroke style, float width) {
        series.setMarker(SeriesMarkers.NONE);
        series.setLineColor(PALETTE[optimizer.ordinal() % PALETTE.length]);
        // xchart draws a series with its stroke alone (setLineWidth does not reach it): the width goes in the stroke.
        series.setLineStyle(new BasicStroke(width, style.getEndCap(), style.getLineJoin(), style.getMiterLimit(),
                style.getDashArray(), style.getDashPhase()));
    }
}
