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
 * Draws the demo's PNG: one training-loss panel per schedule side by side (log-scale loss against epochs), and
 * below them a panel with the learning rate of every run at every step (log scale). Each optimizer keeps one colour
 * in every panel; legends sit outside the plot areas so they never cover a curve.
 */
public final class DemoCharts {
    // matplotlib's "tab10": ten hues that stay distinct for most colour-vision deficiencies, one per optimizer.
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
        new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
        new Color(0xbcbd22), new Color(0x17becf)};
    private static final int PANEL_WIDTH = 820;
    private static final int LOSS_HEIGHT = 560;
    private static final int LR_HEIGHT = 480;
    // A log axis needs positive values; a loss that rounded to zero is drawn at this floor instead of vanishing.
    private static final double LOSS_FLOOR = 1e-6;

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
        BufferedImage image = new BufferedImage(width, LOSS_HEIGHT + LR_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            for (int s = 0; s < schedules.size(); s++) {
                XYChart loss = lossChart(runs, schedules.get(s));
                g.drawImage(BitmapEncoder.getBufferedImage(loss), s * PANEL_WIDTH, 0, null);
            }
            g.drawImage(BitmapEncoder.getBufferedImage(lrChart(runs, width)), 0, LOSS_HEIGHT, null);
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

    private static XYChart lossChart(List<RunResult> runs, ScheduleChoice schedule) {
        String title = schedule == ScheduleChoice.CONSTANT ? "Training loss, constant learning rate"
                : "Training loss, SGDR (cosine annealing, warm restarts)";
        XYChart chart = styled(new XYChartBuilder().width(PANEL_WIDTH).height(LOSS_HEIGHT).title(title)
                .xAxisTitle("epoch").yAxisTitle("training cross-entropy, mean over the epoch (log scale)").build());
        for (RunResult r : runs) {
            if (r.scheduleChoice() != schedule) {
                continue;
            }
            List<Double> x = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (EpochPoint p : r.curve()) {
                if (Double.isFinite(p.trainLoss())) {
                    // An epoch's loss is a mean over the epoch, so it belongs at the epoch's middle; epoch 0 is
                    // the initial loss at 0. (This also keeps the x values unevenly spaced: for evenly spaced ones
                    // xchart takes its ticks from the data, and their labels collide beyond ~60 epochs.)
                    x.add(p.epoch() == 0 ? 0.0 : p.epoch() - 0.5);
                    y.add(Math.max(LOSS_FLOOR, p.trainLoss()));
                }
            }
            if (!x.isEmpty()) {
                XYSeries series = chart.addSeries(r.optimizer().label(), x, y);
                line(series, r.optimizer(), SeriesLines.SOLID);
            }
        }
        return chart;
    }

    private static XYChart lrChart(List<RunResult> runs, int width) {
        boolean both = runs.stream().map(RunResult::scheduleChoice).distinct().count() > 1;
        String title = "Learning rate per step" + (both ? " (solid: SGDR, dashed: constant)" : "");
        XYChart chart = styled(new XYChartBuilder().width(width).height(LR_HEIGHT).title(title)
                .xAxisTitle("epoch (SGDR changes the rate every batch)").yAxisTitle("learning rate (log scale)")
                .build());
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
            line(series, group.get(0), constant && both ? SeriesLines.DASH_DASH : SeriesLines.SOLID);
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
        st.setYAxisLogarithmic(true);
        st.setMarkerSize(0);
        st.setAntiAlias(true);
        return chart;
    }

    private static void line(XYSeries series, OptimizerChoice optimizer, BasicStroke style) {
        series.setMarker(SeriesMarkers.NONE);
        series.setLineColor(PALETTE[optimizer.ordinal() % PALETTE.length]);
        series.setLineStyle(style);
        series.setLineWidth(2f);
    }
}
