package example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.PackageVersion;
import io.fusedopt.CheckpointException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import io.fusedopt.schedule.Schedules;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;

/**
 * An application that uses its own Jackson and fusedopt side by side: it reads its training configuration with
 * its Jackson, trains a small linear model with AdamW under SGDR, checkpoints half-way, resumes in a fresh
 * optimizer, and checks that the resumed run is bit-identical to the uninterrupted one. Prints one line per check
 * and exits 1 on the first failure.
 */
public final class ConsumerApp {
    private static final int IN = 7, OUT = 3, BATCH = 5;

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        String expectJackson = args[1];

        // The application's Jackson: fields() exists in every 2.x, and the version is the one it pinned.
        ObjectMapper mapper = new ObjectMapper();
        JsonNode cfg = mapper.readTree("{\"steps\": 12, \"resumeAt\": 5, \"lr\": 0.01, \"seed\": 3}");
        StringBuilder keys = new StringBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = cfg.fields(); it.hasNext(); ) {
            keys.append(it.next().getKey()).append(' ');
        }
        check(PackageVersion.VERSION.toString().equals(expectJackson),
                "application Jackson " + PackageVersion.VERSION + ", expected " + expectJackson);
        check(ObjectMapper.class.getProtectionDomain().getCodeSource().getLocation().toString()
                        .contains("jackson-databind-" + expectJackson),
                "ObjectMapper from " + ObjectMapper.class.getProtectionDomain().getCodeSource().getLocation());
        int steps = cfg.get("steps").asInt(), resumeAt = cfg.get("resumeAt").asInt();
        double lr = cfg.get("lr").asDouble();
        long seed = cfg.get("seed").asLong();

        float[][] straight = train(dir.resolve("unused.safetensors"), steps, -1, lr, seed);
        float[][] resumed = train(dir.resolve("half.safetensors"), steps, resumeAt, lr, seed);
        for (int i = 0; i < straight.length; i++) {
            check(Arrays.equals(bits(straight[i]), bits(resumed[i])), "resumed run differs in array " + i);
        }
        check(Files.size(dir.resolve("half.safetensors")) > 0, "checkpoint written");

        // A corrupt checkpoint is refused with fusedopt's own exception, whatever Jackson the application has.
        Path bad = dir.resolve("bad.safetensors");
        byte[] b = Files.readAllBytes(dir.resolve("half.safetensors"));
        b[8] = '!'; // the first byte of the JSON header
        Files.write(bad, b);
        try (Device d = Device.cpu(); ParameterStore s = store(d); Optimizer o = optimizer(s, lr, steps)) {
            o.loadState(bad);
            check(false, "corrupt checkpoint accepted");
        } catch (CheckpointException e) {
            System.out.println("corrupt checkpoint refused: " + e.getMessage());
        }
        System.out.println("config keys: " + keys.toString().trim());
        System.out.println("application jackson " + PackageVersion.VERSION);
        System.out.println("resumed run bit-identical over " + steps + " steps");
    }

    /** Trains for {@code steps} steps; when {@code resumeAt >= 0} saves there, closes everything and resumes. */
    private static float[][] train(Path ckpt, int steps, int resumeAt, double lr, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        float[] w = new float[OUT * IN], bias = new float[OUT];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rnd.nextGaussian() * 0.3);
        }
        float[][] xs = new float[steps][BATCH * IN], ys = new float[steps][BATCH * OUT];
        for (int t = 0; t < steps; t++) {
            for (int i = 0; i < xs[t].length; i++) {
                xs[t][i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < ys[t].length; i++) {
                ys[t][i] = (float) rnd.nextGaussian();
            }
        }
        Device d = Device.cpu();
        ParameterStore s = store(d);
        Optimizer o = optimizer(s, lr, steps);
        s.setParameters("fc.weight", w);
        s.setParameters("fc.bias", bias);
        try {
            for (int t = 0; t < steps; t++) {
                if (t == resumeAt) {
                    o.saveState(ckpt);
                    float[] pw = s.parameters("fc.weight"), pb = s.parameters("fc.bias");
                    o.close();
                    s.close();
                    d.close();
                    d = Device.cpu();
                    s = store(d);
                    o = optimizer(s, lr, steps);
                    s.setParameters("fc.weight", pw);
                    s.setParameters("fc.bias", pb);
                    o.loadState(ckpt);
                }
                gradients(s, xs[t], ys[t]);
                o.step();
            }
            return new float[][] {s.parameters("fc.weight"), s.parameters("fc.bias"),
                    o.state("fc.weight", "exp_avg"), o.state("fc.weight", "exp_avg_sq")};
        } finally {
            o.close();
            s.close();
            d.close();
        }
    }

    private static ParameterStore store(Device d) {
        return ParameterStore.builder().add("fc.weight", OUT, IN).add("fc.bias", OUT).build(d);
    }

    private static Optimizer optimizer(ParameterStore s, double lr, int steps) {
        return Optimizers.adamW().lr(lr).weightDecay(1e-2)
                .schedule(Schedules.sgdr(2, 2, 1e-4).perBatch(2))
                .group("no_decay", g -> g.weightDecay(0), "fc.bias")
                .build(s);
    }

    /** Mean squared error of y = W x + b over the batch: writes dL/dW and dL/db into the store. */
    private static void gradients(ParameterStore s, float[] x, float[] y) {
        float[] w = s.parameters("fc.weight"), b = s.parameters("fc.bias");
        float[] gw = new float[w.length], gb = new float[b.length];
        for (int n = 0; n < BATCH; n++) {
            for (int o = 0; o < OUT; o++) {
                float pred = b[o];
                for (int i = 0; i < IN; i++) {
                    pred += w[o * IN + i] * x[n * IN + i];
                }
                float err = 2f * (pred - y[n * OUT + o]) / BATCH;
                gb[o] += err;
                for (int i = 0; i < IN; i++) {
                    gw[o * IN + i] += err * x[n * IN + i];
                }
            }
        }
        s.setGradients("fc.weight", gw);
        s.setGradients("fc.bias", gb);
    }

    private static int[] bits(float[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = Float.floatToRawIntBits(a[i]);
        }
        return r;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            System.out.println("FAILED: " + what);
            System.exit(1);
        }
    }
}
