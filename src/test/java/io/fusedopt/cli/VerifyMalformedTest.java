package io.fusedopt.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code verify --cases DIR} on malformed case files: exit 2 with one line {@code error: FILE: field ...}, never a
 * stack trace and never exit 0. Each test writes one broken copy of a bundled case into its own directory.
 */
class VerifyMalformedTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static String baseText;

    @TempDir
    Path dir;

    @BeforeAll
    static void readBase() throws IOException {
        try (InputStream in = VerifyMalformedTest.class.getResourceAsStream("/golden/adam_basic.json")) {
            baseText = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** Writes {@code text} as the only case of a fresh directory and runs verify on it. */
    private CliRun verifyText(String text) throws IOException {
        Path cases = Files.createDirectory(dir.resolve("cases"));
        Files.writeString(cases.resolve("broken.json"), text);
        return CliRun.of("verify", "--backend", "cpu", "--cases", cases.toString());
    }

    private CliRun verify(Consumer<ObjectNode> mutation) throws IOException {
        ObjectNode root = (ObjectNode) JSON.readTree(baseText);
        mutation.accept(root);
        return verifyText(JSON.writeValueAsString(root));
    }

    private static ObjectNode hyper(ObjectNode root) {
        return (ObjectNode) root.get("hyperparams");
    }

    private static ArrayNode grads(ObjectNode root, int step) {
        return (ArrayNode) root.get("steps").get(step).get("grads");
    }

    private String file() {
        return "broken.json";
    }

    @Test
    void theUnbrokenCasePasses() throws IOException {
        CliRun r = verifyText(baseText);
        org.junit.jupiter.api.Assertions.assertEquals(0, r.exit(), r.out() + r.err());
    }

    @Test
    void truncatedJson() throws IOException {
        verifyText(baseText.substring(0, baseText.length() / 2)).assertOneLineError(file(), "invalid JSON");
    }

    @Test
    void notJsonAtAll() throws IOException {
        verifyText("\u0000\u0001binary").assertOneLineError(file(), "invalid JSON");
    }

    @Test
    void topLevelArray() throws IOException {
        verifyText("[1, 2]").assertOneLineError(file(), "JSON object");
    }

    @Test
    void wrongTypes() throws IOException {
        verify(r -> r.put("name", 5)).assertOneLineError(file(), "name");
    }

    @Test
    void stepsNotAnArray() throws IOException {
        verify(r -> r.put("steps", "abc")).assertOneLineError(file(), "steps");
    }

    @Test
    void hyperparamsNotAnObject() throws IOException {
        verify(r -> r.putArray("hyperparams")).assertOneLineError(file(), "hyperparams");
    }

    @Test
    void gradientNotANumber() throws IOException {
        verify(r -> ((ArrayNode) grads(r, 0).get(0)).set(0, JSON.getNodeFactory().textNode("abc")))
                .assertOneLineError(file(), "steps[0].grads[0][0]");
    }

    @Test
    void gradientsNotAnArray() throws IOException {
        verify(r -> grads(r, 1).set(0, JSON.getNodeFactory().textNode("abc")))
                .assertOneLineError(file(), "steps[1].grads[0]");
    }

    @Test
    void booleanFlagOfTheWrongType() throws IOException {
        verify(r -> hyper(r).put("amsgrad", "yes")).assertOneLineError(file(), "amsgrad");
    }

    @Test
    void fractionalShape() throws IOException {
        verify(r -> ((ArrayNode) r.get("tensors").get(0).get("shape")).removeAll().add(2.5))
                .assertOneLineError(file(), "tensors[0].shape[0]");
    }

    @Test
    void zeroShape() throws IOException {
        verify(r -> ((ArrayNode) r.get("tensors").get(0).get("shape")).set(0, JSON.getNodeFactory().numberNode(0)))
                .assertOneLineError(file(), "tensors[0].shape[0]");
    }

    @Test
    void nanTolerance() throws IOException {
        verify(r -> ((ObjectNode) r.get("tolerance")).put("rel", Double.NaN)).assertOneLineError(file(),
                "tolerance.rel");
    }

    @Test
    void nanHyperparameter() throws IOException {
        verify(r -> hyper(r).put("eps", Double.NaN)).assertOneLineError(file(), "hyperparams.eps");
    }

    @Test
    void infiniteGradientLiteral() throws IOException {
        String broken = baseText.replaceFirst("\"grads\":\\s*\\[\\s*\\[", "\"grads\": [[1e400, ");
        org.junit.jupiter.api.Assertions.assertNotEquals(baseText, broken);
        verifyText(broken)
                .assertOneLineError(file(), "steps[0].grads[0]");
    }

    @Test
    void infiniteStepRate() throws IOException {
        verify(r -> ((ObjectNode) r.get("steps").get(2)).put("lr", Double.POSITIVE_INFINITY))
                .assertOneLineError(file(), "steps[2].lr");
    }

    @Test
    void initialOfTheWrongLength() throws IOException {
        verify(r -> ((ArrayNode) r.get("tensors").get(1).get("initial")).remove(0))
                .assertOneLineError(file(), "tensors[1].initial");
    }

    @Test
    void tooFewGradientTensors() throws IOException {
        verify(r -> grads(r, 3).remove(2)).assertOneLineError(file(), "steps[3].grads");
    }

    @Test
    void expectedOfTheWrongLength() throws IOException {
        verify(r -> ((ArrayNode) r.get("steps").get(0).get("expected").get(0)).add(1.0))
                .assertOneLineError(file(), "steps[0].expected[0]");
    }

    @Test
    void unknownOptimizer() throws IOException {
        verify(r -> r.put("optimizer", "adamx")).assertOneLineError(file(), "unknown optimizer 'adamx'");
    }

    @Test
    void unknownHyperparameter() throws IOException {
        verify(r -> hyper(r).put("bogus", 1)).assertOneLineError(file(), "hyperparams.bogus");
    }

    @Test
    void invalidBetas() throws IOException {
        verify(r -> hyper(r).putArray("betas").add(1.5).add(0.9)).assertOneLineError(file(), "beta1");
    }

    @Test
    void negativeWeightDecay() throws IOException {
        verify(r -> hyper(r).put("weight_decay", -1)).assertOneLineError(file(), "weightDecay");
    }

    @Test
    void lookaheadOfZeroSteps() throws IOException {
        verify(r -> {
            r.put("optimizer", "lookahead");
            r.putObject("lookahead").put("k", 0).put("alpha", 0.5).put("inner", "adam");
        }).assertOneLineError(file(), "lookahead k");
    }

    @Test
    void unknownScheduleType() throws IOException {
        verify(r -> r.putObject("schedule").put("type", "zigzag")).assertOneLineError(file(), "schedule", "zigzag");
    }

    @Test
    void missingTolerance() throws IOException {
        verify(r -> ((ObjectNode) r.get("tolerance")).remove("abs")).assertOneLineError(file(), "tolerance.abs");
    }

    @Test
    void emptyDirectory() throws IOException {
        Path empty = Files.createDirectory(dir.resolve("empty"));
        CliRun.of("verify", "--backend", "cpu", "--cases", empty.toString())
                .assertOneLineError(empty.toString(), "no case files");
    }

    @Test
    void notADirectory() throws IOException {
        Path f = Files.writeString(dir.resolve("file.txt"), "x");
        CliRun.of("verify", "--backend", "cpu", "--cases", f.toString())
                .assertOneLineError(f.toString(), "not a directory");
    }

    // ---- Wrong types, overflowing shapes and rates, trailing content and duplicate keys.

    @Test
    void nonNumericLearningRate() throws IOException {
        verify(r -> hyper(r).put("lr", "abc")).assertOneLineError(file(), "hyperparams.lr");
    }

    @Test
    void nullLearningRate() throws IOException {
        verify(r -> hyper(r).putNull("lr")).assertOneLineError(file(), "hyperparams.lr");
    }

    @Test
    void shapeOverflow() throws IOException {
        verify(r -> ((ArrayNode) r.get("tensors").get(0).get("shape")).removeAll().add(4294967296L).add(4294967296L))
                .assertOneLineError(file(), "tensors[0].shape");
    }

    @Test
    void scheduleRateOverflows() throws IOException {
        verify(r -> r.putObject("schedule").put("type", "exponential_lr").put("gamma", 1e300))
                .assertOneLineError(file(), "schedule");
    }

    @Test
    void trailingGarbage() throws IOException {
        verifyText(baseText.strip() + " }garbage{").assertOneLineError(file(), "JSON");
    }

    @Test
    void duplicateKeys() throws IOException {
        verifyText("{\"tolerance\": \"x\", " + baseText.strip().substring(1)).assertOneLineError(file(), "tolerance");
    }
}
