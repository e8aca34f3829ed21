package example.modular;

import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.Optimizers;
import io.fusedopt.ParameterStore;
import java.lang.module.ModuleDescriptor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeSet;

/**
 * Steps AdamW on the CPU through the module io.fusedopt, saves and loads a checkpoint (the relocated Jackson at
 * work inside the module), and prints the packages the module exports.
 */
public final class ModularApp {
    public static void main(String[] args) throws Exception {
        try (Device d = Device.cpu();
                ParameterStore s = ParameterStore.builder().add("w", 5).build(d);
                Optimizer o = Optimizers.adamW().lr(1e-2).build(s)) {
            s.setParameters("w", new float[] {1, 2, 3, 4, 5});
            s.setGradients("w", new float[] {1, -1, 1, -1, 1});
            o.step();
            Path file = Files.createTempFile(Path.of(args[0]), "modular", ".safetensors");
            o.saveState(file);
            o.loadState(file);
            System.out.println("steps " + o.stepCount());
        }
        Module m = Device.class.getModule();
        TreeSet<String> exports = new TreeSet<>();
        for (ModuleDescriptor.Exports e : m.getDescriptor().exports()) {
            exports.add(e.source());
        }
        System.out.println("module " + m.getName() + " exports " + exports);
    }
}
