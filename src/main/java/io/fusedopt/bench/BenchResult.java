package io.fusedopt.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One configuration's figures, as {@code bench --json} prints them.
 *
 * @param optimizer the configuration name (see {@link BenchOptimizers})
 * @param backend {@code cpu} or {@code cuda}
 * @param params parameters stepped (arena padding excluded)
 * @param tensors tensors in the arena
 * @param stepMsMedian median wall time of one step, synchronized, in milliseconds
 * @param bytesPerStep the traffic of one step, {@link Traffic#perParameter} × params
 * @param gbps bytesPerStep / median step time, in GB/s (10^9 B/s)
 * @param bandwidthGbps the reference bandwidth (median of the runs interleaved with the steps), in GB/s
 * @param fractionOfBandwidth gbps / bandwidthGbps
 * @param backToBackMs device time per step of steps issued back to back, between two events on the step stream
 *     (the CPU: their wall time), in milliseconds
 * @param backToBackGbps bytesPerStep / backToBackMs, in GB/s
 * @param hostMsPerStep host time per {@code step()} call of the back-to-back steps, in milliseconds
 */
public record BenchResult(String optimizer, String backend, long params, int tensors, double stepMsMedian,
        long bytesPerStep, double gbps, double bandwidthGbps, double fractionOfBandwidth, double backToBackMs,
        double backToBackGbps, double hostMsPerStep) {
    /** The JSON field names, in output order. */
    public static final java.util.List<String> FIELDS = java.util.List.of("optimizer", "backend", "params", "tensors",
            "step_ms_median", "bytes_per_step", "gbps", "bandwidth_gbps", "fraction_of_bandwidth", "back_to_back_ms",
            "back_to_back_gbps", "host_ms_per_step");

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The figures of a step timing: effective GB/s and its fraction of the timing's reference bandwidth. */
    public static BenchResult of(StepTiming t) {
        double gbps = t.bytesPerStep() / (t.stepMsMedian() / 1e3) / 1e9;
        double reference = t.reference().medianGbps();
        return new BenchResult(t.optimizer(), t.backend(), t.params(), t.tensors(), t.stepMsMedian(),
                t.bytesPerStep(), gbps, reference, gbps / reference, t.backToBackMs(),
                t.bytesPerStep() / (t.backToBackMs() / 1e3) / 1e9, t.hostMsPerStep());
    }

    /** One line of JSON with exactly the fields of {@link #FIELDS}. */
    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("optimizer", optimizer);
        n.put("backend", backend);
        n.put("params", params);
        n.put("tensors", tensors);
        n.put("step_ms_median", stepMsMedian);
        n.put("bytes_per_step", bytesPerStep);
        n.put("gbps", gbps);
        n.put("bandwidth_gbps", bandwidthGbps);
        n.put("fraction_of_bandwidth", fractionOfBandwidth);
        n.put("back_to_back_ms", backToBackMs);
        n.put("back_to_back_gbps", backToBackGbps);
        n.put("host_ms_per_step", hostMsPerStep);
        try {
            return JSON.writeValueAsString(n);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot write a bench result as JSON", e);
        }
    }
}
