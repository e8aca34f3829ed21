package io.fusedopt.golden;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fusedopt.Device;
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
    private static final Path LION = Path.of("src/test/resources/golden/lion_zero_directions.json");

    @ParameterizedTest
    @CsvSource({
        "lp_adamw_bf16.json, param_dtype",
        "master_adamw_bf16.json, master_weights"})
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
        GoldenCase c = GoldenCase.read(PENDING.resolve("lp_adamw_bf16.json"));
        assertEquals(1, c.ulps());
        assertEquals(0.0, c.rel());
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
