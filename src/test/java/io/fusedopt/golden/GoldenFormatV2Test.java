package io.fusedopt.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
import io.fusedopt.core.Dtype;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Format-2 cases are read; a case that needs a feature the library lacks is parsed but refused by name, never run
 * with the field ignored (FORMAT.md: a harness skips such a case).
 */
class GoldenFormatV2Test {
    private static final Path PENDING = Path.of("src/test/resources/golden-pending");
    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final Path LION = GOLDEN.resolve("lion_zero_directions.json");

    @ParameterizedTest
    @CsvSource({
        "clip_adamw.json, clip",
        "loss_scale_adamw.json, loss_scale"})
    void aCaseWithAMissingFeatureIsReadAndRefusedByName(String file, String field) throws Exception {
        GoldenCase c = GoldenCase.read(PENDING.resolve(file));
        assertEquals(2, c.formatVersion());
        assertFalse(c.runnable());
        assertTrue(c.unsupported().stream().anyMatch(u -> u.startsWith(field + ":")),
                () -> file + " should name " + field + ": " + c.unsupported());
        try (Device cpu = Device.cpu()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> GoldenRunner.run(c, cpu));
            assertTrue(e.getMessage().contains(file) && e.getMessage().contains(field + ":"), e.getMessage());
        }
    }

    @Test
    void anUlpsOnlyToleranceIsRead() throws Exception {
        GoldenCase c = GoldenCase.read(GOLDEN.resolve("lp_adamw_bf16.json"));
        assertEquals(1, c.ulps());
        assertEquals(0.0, c.rel());
        assertEquals(new GoldenCase.Storage(Dtype.BFLOAT16, Dtype.BFLOAT16, Dtype.BFLOAT16, false), c.storage());
    }

    @Test
    void aMasterWeightsCaseReadsItsMasters() throws Exception {
        GoldenCase c = GoldenCase.read(GOLDEN.resolve("master_adamw_bf16.json"));
        assertTrue(c.runnable(), () -> c.unsupported().toString());
        assertEquals(new GoldenCase.Storage(Dtype.BFLOAT16, Dtype.BFLOAT16, Dtype.FLOAT32, true), c.storage());
        assertEquals(c.shapes().size(), c.steps().get(0).expectedMaster().size());
    }

    @ParameterizedTest
    @CsvSource({
        "'\"state_dtype\": \"float32\"', '\"state_dtype\": \"float16\"', state_dtype",
        "'\"grad_dtype\": \"bfloat16\"', '\"grad_dtype\": \"float32\"', grad_dtype",
        "'\"param_dtype\": \"bfloat16\"', '\"param_dtype\": \"int8\"', param_dtype"})
    void aStorageCombinationTheLibraryLacksIsRefusedByName(String from, String to, String field) throws Exception {
        String json = Files.readString(GOLDEN.resolve("master_adamw_bf16.json"), StandardCharsets.UTF_8)
                .replace(from, to);
        GoldenCase c = GoldenCase.parse("combo.json", json.getBytes(StandardCharsets.UTF_8));
        assertTrue(c.unsupported().stream().anyMatch(u -> u.startsWith(field + ":")), () -> c.unsupported()
                .toString());
    }

    @Test
    void aFormat2CaseOfAnImplementedAlgorithmRuns() throws Exception {
        GoldenCase c = GoldenCase.read(LION);
        assertEquals(2, c.formatVersion());
        assertTrue(c.runnable(), () -> c.unsupported().toString());
    }

    @Test
    void anUnknownAlgorithmInAFormat2CaseIsRefusedByName() throws Exception {
        String json = Files.readString(LION, StandardCharsets.UTF_8)
                .replace("\"optimizer\": \"lion\"", "\"optimizer\": \"sophia\"");
        GoldenCase c = GoldenCase.parse("sophia.json", json.getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of("optimizer: 'sophia' is not an algorithm of this library"), c.unsupported());
    }

    @Test
    void aFormatVersionBeyondTheReadersIsAnError() throws Exception {
        String json = Files.readString(LION, StandardCharsets.UTF_8)
                .replace("\"format_version\": 2", "\"format_version\": 3");
        GoldenFormatException e = assertThrows(GoldenFormatException.class,
                () -> GoldenCase.parse("v3.json", json.getBytes(StandardCharsets.UTF_8)));
        assertTrue(e.getMessage().startsWith("v3.json: format_version: must be 1 or 2"), e.getMessage());
    }
}
