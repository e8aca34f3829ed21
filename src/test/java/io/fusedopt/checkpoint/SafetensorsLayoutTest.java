package io.fusedopt.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.core.Tensor;
import io.fusedopt.checkpoint.Fixtures.Config;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file is a valid safetensors file with the documented naming and metadata: checked rule by rule in Java, and,
 * where {@code python3} with numpy is installed, read back by Python (with the {@code safetensors} package too when
 * that is installed) and compared bit for bit with the optimizer's state.
 */
class SafetensorsLayoutTest {
    @TempDir
    Path dir;

    /** SWATS with Lookahead: three slots, the slow weights, and per-tensor state; saved mid-run. */
    private Path saveSwats(Device cpu, Map<String, Object> expected) {
        Config swats = Fixtures.golden("swats_l2.json", 7);
        Config c = Fixtures.withFactory(swats, s -> io.fusedopt.Optimizers.swats().lr(0.02).betas(0.9, 0.999)
                .eps(2e-4).weightDecay(0.01).lookahead(2, 0.5).build(s));
        Path file = dir.resolve("swats.safetensors");
        try (ParameterStore s = Fixtures.store(c, cpu); Optimizer o = c.factory().apply(s)) {
            Fixtures.run(c, s, o, 1, c.n());
            o.saveState(file);
            for (Tensor t : s.tensors()) {
                for (String slot : o.slotNames()) {
                    expected.put(t.name() + "." + slot, o.state(t.name(), slot));
                }
            }
            expected.put("__tensor_state__", o.tensorState());
            expected.put("slots", o.slotNames());
        }
        return file;
    }

    @Test
    void layoutFollowsTheSafetensorsRules() throws IOException {
        Map<String, Object> expected = new java.util.LinkedHashMap<>();
        Path file;
        try (Device cpu = Device.cpu()) {
            file = saveSwats(cpu, expected);
        }
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, n % 8, "header padded to a multiple of 8");
        String text = new String(all, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(text.startsWith("{"), "header starts with {");
        assertTrue(text.stripTrailing().endsWith("}") && text.substring(text.stripTrailing().length()).chars()
                .allMatch(ch -> ch == ' '), "padding is spaces only");
        JsonNode header = StFile.JSON.readTree(text);
        ByteBuffer data = ByteBuffer.wrap(all, 8 + (int) n, all.length - 8 - (int) n).slice()
                .order(ByteOrder.LITTLE_ENDIAN);

        JsonNode meta = header.get("__metadata__");
        for (Iterator<Map.Entry<String, JsonNode>> it = meta.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            assertTrue(e.getValue().isTextual(), "metadata values are strings: " + e.getKey());
        }
        assertEquals("2", meta.get("fusedopt.format").asText());
        assertEquals(StFile.resealed((com.fasterxml.jackson.databind.node.ObjectNode) header).get("__metadata__")
                .get("fusedopt.header_checksum").asText(), meta.get("fusedopt.header_checksum").asText(),
                "the header checksum is the one the format describes");
        assertEquals("7", meta.get("fusedopt.step").asText());
        assertEquals("0", meta.get("fusedopt.skipped").asText());
        assertEquals("4", meta.get("fusedopt.tensor_state_width").asText());
        JsonNode desc = StFile.JSON.readTree(meta.get("fusedopt.optimizer").asText());
        assertEquals("lookahead", desc.get("optimizer").asText());
        assertEquals("swats", desc.get("lookahead").get("inner").asText());
        assertEquals(0.02, desc.get("hyperparams").get("lr").asDouble());
        JsonNode tensors = StFile.JSON.readTree(meta.get("fusedopt.tensors").asText());
        assertEquals("[{\"name\":\"t0\",\"shape\":[3,5]},{\"name\":\"t1\",\"shape\":[12]},"
                + "{\"name\":\"t2\",\"shape\":[2,2,2]},{\"name\":\"t3\",\"shape\":[1]}]", tensors.toString());
        JsonNode sums = StFile.JSON.readTree(meta.get("fusedopt.checksums").asText());

        // Fixed order: tensors in store order, slots in slot order, the per-tensor state last; contiguous from 0.
        @SuppressWarnings("unchecked")
        List<String> slots = (List<String>) expected.get("slots");
        assertEquals(List.of("exp_avg", "exp_avg_sq", "momentum_buffer", "slow"), slots);
        List<String> order = new ArrayList<>();
        for (JsonNode t : tensors) {
            for (String s : slots) {
                order.add(t.get("name").asText() + "." + s);
            }
        }
        order.add("__tensor_state__");
        List<String> keys = new ArrayList<>();
        header.fieldNames().forEachRemaining(keys::add);
        assertEquals("__metadata__", keys.remove(0));
        assertEquals(order, keys);
        long at = 0;
        for (String k : order) {
            JsonNode e = header.get(k);
            long b = e.get("data_offsets").get(0).asLong(), end = e.get("data_offsets").get(1).asLong();
            assertEquals(at, b, k + " begins where the previous entry ends");
            long count = 1;
            for (JsonNode d : e.get("shape")) {
                count *= d.asLong();
            }
            boolean f64 = k.equals("__tensor_state__");
            assertEquals(f64 ? "F64" : "F32", e.get("dtype").asText());
            assertEquals(count * (f64 ? 8 : 4), end - b, k + " size");
            CRC32C crc = new CRC32C();
            crc.update(data.duplicate().position((int) b).limit((int) end));
            assertEquals(String.format(Locale.ROOT, "%08x", crc.getValue()), sums.get(k).asText(), k + " checksum");
            if (f64) {
                double[] want = (double[]) expected.get(k);
                assertEquals("[4,4]", e.get("shape").toString());
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Double.doubleToRawLongBits(want[i]),
                            Double.doubleToRawLongBits(data.getDouble((int) b + 8 * i)), k + "[" + i + "]");
                }
            } else {
                float[] want = (float[]) expected.get(k);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Float.floatToRawIntBits(want[i]),
                            Float.floatToRawIntBits(data.getFloat((int) b + 4 * i)), k + "[" + i + "]");
                }
            }
            at = end;
        }
        assertEquals(all.length - 8 - n, at, "the last entry ends the file");
        // SWATS has switched tensor 0 by step 7, so the phase column is not all zero.
        double[] ts = (double[]) expected.get("__tensor_state__");
        assertEquals(1.0, ts[io.fusedopt.rule.Swats.PHASE]);
    }

    private static final String PYTHON = String.join("\n",
            "import json, struct, sys",
            "import numpy as np",
            "path = sys.argv[1]",
            "raw = open(path, 'rb').read()",
            "n = struct.unpack('<Q', raw[:8])[0]",
            "assert n % 8 == 0, 'header not padded'",
            "header = json.loads(raw[8:8 + n].decode('utf-8'))",
            "meta = header.pop('__metadata__')",
            "assert all(isinstance(v, str) for v in meta.values()), 'metadata must hold strings'",
            "data = raw[8 + n:]",
            "pos = 0",
            "out = {'__meta__': {'format': meta['fusedopt.format'], 'step': meta['fusedopt.step'],",
            "    'optimizer': json.loads(meta['fusedopt.optimizer'])['optimizer']}}",
            "arrays = {}",
            "for name, e in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):",
            "    b, end = e['data_offsets']",
            "    assert b == pos, name + ' not contiguous'",
            "    pos = end",
            "    dt = {'F32': '<f4', 'F64': '<f8'}[e['dtype']]",
            "    a = np.frombuffer(data[b:end], dtype=dt).reshape(e['shape'])",
            "    arrays[name] = a",
            "    bits = a.view('<u4' if e['dtype'] == 'F32' else '<u8').ravel()",
            "    out[name] = [str(int(x)) for x in bits]",
            "assert pos == len(data), 'data length'",
            "def crc32c(b):",
            "    c = 0xFFFFFFFF",
            "    for x in b:",
            "        c ^= x",
            "        for _ in range(8):",
            "            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)",
            "    return c ^ 0xFFFFFFFF",
            "def text(s):",
            "    b = s.encode('utf-8')",
            "    return struct.pack('<Q', len(b)) + b",
            "canon = b''",
            "for k in sorted(meta):",
            "    if k.startswith('fusedopt.') and k != 'fusedopt.header_checksum':",
            "        canon += text(k) + text(meta[k])",
            "for name, e in sorted(header.items(), key=lambda kv: kv[1]['data_offsets']):",
            "    canon += text(name) + text(e['dtype']) + struct.pack('<Q', len(e['shape']))",
            "    canon += b''.join(struct.pack('<Q', d) for d in e['shape'])",
            "    canon += struct.pack('<QQ', *e['data_offsets'])",
            "assert '%08x' % crc32c(canon) == meta['fusedopt.header_checksum'], 'header checksum'",
            "try:",
            "    from safetensors.numpy import load_file",
            "except ImportError:",
            "    load_file = None",
            "if load_file is not None:",
            "    st = load_file(path)",
            "    assert set(st) == set(arrays), 'safetensors sees other tensors'",
            "    for k, v in st.items():",
            "        assert v.shape == arrays[k].shape and v.dtype == arrays[k].dtype, k",
            "        assert v.tobytes() == arrays[k].tobytes(), k",
            "    out['__meta__']['safetensors'] = 'yes'",
            "print(json.dumps(out))");

    @Test
    void pythonReadsItWithNumpyAndSafetensors() throws Exception {
        assumeTrue(python("import numpy"), "python3 with numpy is not installed here");
        Map<String, Object> expected = new java.util.LinkedHashMap<>();
        Path file;
        try (Device cpu = Device.cpu()) {
            file = saveSwats(cpu, expected);
        }
        Path script = dir.resolve("check.py");
        Files.writeString(script, PYTHON);
        Process p = new ProcessBuilder("python3", script.toString(), file.toString()).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "python timed out");
        assertEquals(0, p.exitValue(), output);
        JsonNode out = StFile.JSON.readTree(output);
        assertEquals("2", out.get("__meta__").get("format").asText());
        assertEquals("7", out.get("__meta__").get("step").asText());
        assertEquals("lookahead", out.get("__meta__").get("optimizer").asText());
        if (python("import safetensors.numpy")) {
            assertEquals("yes", out.get("__meta__").get("safetensors").asText(), "safetensors.numpy.load_file ran");
        }
        for (Map.Entry<String, Object> e : expected.entrySet()) {
            if (e.getValue() instanceof float[] want) {
                JsonNode got = out.get(e.getKey());
                assertEquals(want.length, got.size(), e.getKey());
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Integer.toUnsignedLong(Float.floatToRawIntBits(want[i])), got.get(i).asLong(),
                            e.getKey() + "[" + i + "]");
                }
            } else if (e.getValue() instanceof double[] want) {
                JsonNode got = out.get(e.getKey());
                for (int i = 0; i < want.length; i++) {
                    assertEquals(Long.toUnsignedString(Double.doubleToRawLongBits(want[i])), got.get(i).asText(),
                            e.getKey() + "[" + i + "]");
                }
            }
        }
    }

    private static boolean python(String statement) {
        try {
            Process p = new ProcessBuilder("python3", "-c", statement).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
