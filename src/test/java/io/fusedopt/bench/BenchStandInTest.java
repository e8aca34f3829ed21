package io.fusedopt.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fusedopt.Device;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** {@code bench --backend cuda} on the CPU stand-in for the driver: it runs, and says its figures mean nothing. */
@Tag("cuda-emu")
class BenchStandInTest {
    @Test
    void cudaBenchRunsOnTheStandInAndWarns() throws Exception {
        String description;
        try (Device d = Device.cuda()) {
            description = d.description();
        } catch (RuntimeException | LinkageError e) {
            description = null;
            assumeTrue(false, "CUDA not usable here: " + e.getMessage());
        }
        assumeTrue(description.contains("stand-in"), "a real GPU, not the stand-in: " + description);
        BenchCommandTest.Run r = BenchCommandTest.bench("--backend", "cuda", "--params", "4097", "--steps", "2",
                "--warmup", "1", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("stand-in") && r.err().contains("meaningless"), r.err());
        List<String> lines = r.out().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), r.out());
        JsonNode n = new ObjectMapper().readTree(lines.get(0));
        assertEquals(io.fusedopt.bench.BenchResult.FIELDS.size(), n.size());
        assertEquals("cuda", n.get("backend").asText());
        assertEquals(28L * 4097, n.get("bytes_per_step").asLong());
        assertTrue(n.get("bandwidth_gbps").asDouble() > 0);
        // The back-to-back steps were timed between two events on the step stream.
        assertTrue(n.get("back_to_back_ms").asDouble() > 0, lines.get(0));
    }
}
