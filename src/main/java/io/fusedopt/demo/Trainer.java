package io.fusedopt.demo;

import io.fusedopt.core.CudaException;
import io.fusedopt.Device;
import io.fusedopt.Optimizer;
import io.fusedopt.ParameterStore;
import io.fusedopt.schedule.Schedule;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Trains the digits {@link Mlp} with mini-batches. On the CPU the model's own arrays are the store's tensors
 * ({@link Mlp#register}): each step computes the loss and the gradients in place and runs the optimizer step on
 * them, with no copy between the model and the store. On a CUDA device the whole step stays on the device instead
 * ({@link DeviceMlp}).
 *
 * <p>Every run of one trainer starts from the same He initialisation and visits the batches in the same order (both
 * from the seed), so runs differ only in the optimizer and the schedule, and a run is reproducible bit for bit.
 */
public final class Trainer {
    /** The default mini-batch size. */
    public static final int DEFAULT_BATCH_SIZE = 32;

    // Evaluation is forward-only, so it can use bigger chunks than training and pay the loop overheads less often.
    private static final int EVAL_CHUNK = 512;

    private final Digits.Split split;
    private final int epochs;
    private final int batchSize;
    private final long seed;

    /**
     * A trainer for {@code epochs} epochs of mini-batches of {@code batchSize} samples (the last batch of an epoch
     * takes the remainder), seeded with {@code seed}.
     *
     * @throws IllegalArgumentException when {@code epochs} or {@code batchSize} is below 1, or the split has an
     *     empty part
     */
    public Trainer(Digits.Split split, int epochs, int batchSize, long seed) {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (split.train().size() == 0 || split.test().size() == 0) {
            throw new IllegalArgumentException("the split needs training and test samples");
        }
        this.split = split;
        this.epochs = epochs;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    /** Optimizer steps per epoch: the training samples divided by the batch size, rounded up. */
    public long stepsPerEpoch() {
        return (split.train().size() + batchSize - 1) / batchSize;
    }

    /** Optimizer steps of one whole run. */
    public long stepsPerRun() {
        return stepsPerEpoch() * epochs;
    }

    /** The number of epochs of each run. */
    public int epochs() {
        return epochs;
    }

    /** The mini-batch size. */
    public int batchSize() {
        return batchSize;
    }

    /**
     * Trains a freshly initialised model on {@code device} with {@code optimizer} under {@code schedule}, calling
     * {@code afterStep} (may be null) after every optimizer step, and evaluating on the test set after every
     * epoch. The curve starts with epoch 0, the initial parameters.
     *
     * @throws io.fusedopt.core.CudaException when the device fails
     */
    public RunResult train(Device device, OptimizerChoice optimizer, ScheduleChoice schedule, Runnable afterStep) {
        if ("cuda".equals(device.name())) {
            return trainOnDevice(device, optimizer, schedule, afterStep);
        }
        Schedule sched = schedule.build(epochs, stepsPerEpoch(), optimizer.lr());
        Dataset train = split.train();
        Mlp model = new Mlp(Math.max(batchSize, EVAL_CHUNK));
        List<EpochPoint> curve = new ArrayList<>();
        long started = System.nanoTime();
        // The store wraps the model's arrays: the step updates the weights the model reads and reads the gradients
        // the model writes.
        try (ParameterStore store = model.register(ParameterStore.builder()).build(device)) {
            for (Map.Entry<String, float[]> e : Mlp.heInit(seed).entrySet()) {
                store.setParameters(e.getKey(), e.getValue());
            }
            try (Optimizer opt = optimizer.builder().schedule(sched).build(store)) {
                Random order = new Random(seed ^ 0x0BA7C4E5L);
                int[] indices = new int[train.size()];
                for (int i = 0; i < indices.length; i++) {
                    indices[i] = i;
                }
                // Epoch 0: the initial parameters, the same for every run, so all curves start at one point.
                model.parametersChanged();
                Mlp.Evaluation start = model.evaluate(train);
                curve.add(new EpochPoint(0, 0, start.loss(), model.evaluate(split.test()).accuracy(),
                        opt.learningRate()));
                for (int epoch = 1; epoch <= epochs; epoch++) {
                    shuffle(indices, order);
                    double lossSum = 0;
                    for (int from = 0; from < indices.length; from += batchSize) {
                        int count = Math.min(batchSize, indices.length - from);
                        lossSum += model.lossAndGradients(train, indices, from, count) * count;
                        opt.step();
                        model.parametersChanged();
                        if (afterStep != null) {
                            afterStep.run();
                        }
                    }
                    double accuracy = model.evaluate(split.test()).accuracy();
                    curve.add(new EpochPoint(epoch, opt.stepCount(), lossSum / indices.length, accuracy,
                            opt.learningRate()));
                }
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        return new RunResult(optimizer, schedule, sched, stepsPerEpoch(), curve, seconds);
    }

    /**
     * {@link #train} on CUDA: the whole step stays on the device ({@link DeviceMlp}: cuBLAS products, the demo
     * kernels, the fused optimizer step); the batch order is uploaded once per epoch and the loss read back once
     * per epoch. Same initialisation, batch order and schedule as the host path.
     */
    private RunResult trainOnDevice(Device device, OptimizerChoice optimizer, ScheduleChoice schedule,
            Runnable afterStep) {
        Schedule sched = schedule.build(epochs, stepsPerEpoch(), optimizer.lr());
        Dataset train = split.train();
        List<EpochPoint> curve = new ArrayList<>();
        long started = System.nanoTime();
        try (ParameterStore store = Mlp.declare(ParameterStore.builder()).build(device)) {
            for (Map.Entry<String, float[]> e : Mlp.heInit(seed).entrySet()) {
                store.setParameters(e.getKey(), e.getValue());
            }
            try (Optimizer opt = optimizer.builder().schedule(sched).build(store);
                    DeviceMlp model = new DeviceMlp(store, Math.max(batchSize, EVAL_CHUNK))) {
                DeviceMlp.Data trainData = model.upload(train);
                DeviceMlp.Data testData = model.upload(split.test());
                Random order = new Random(seed ^ 0x0BA7C4E5L);
                int[] indices = new int[train.size()];
                for (int i = 0; i < indices.length; i++) {
                    indices[i] = i;
                }
                Mlp.Evaluation start = model.evaluate(trainData);
                curve.add(new EpochPoint(0, 0, start.loss(), model.evaluate(testData).accuracy(),
                        opt.learningRate()));
                for (int epoch = 1; epoch <= epochs; epoch++) {
                    shuffle(indices, order);
                    trainData.setOrder(indices);
                    model.takeTally();
                    for (int from = 0; from < indices.length; from += batchSize) {
                        model.trainStep(trainData, from, Math.min(batchSize, indices.length - from));
                        opt.step();
                        if (afterStep != null) {
                            afterStep.run();
                        }
                    }
                    double lossSum = model.takeTally().lossSum();
                    double accuracy = model.evaluate(testData).accuracy();
                    curve.add(new EpochPoint(epoch, opt.stepCount(), lossSum / indices.length, accuracy,
                            opt.learningRate()));
                }
            }
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        return new RunResult(optimizer, schedule, sched, stepsPerEpoch(), curve, seconds);
    }

    /**
     * Runs forward and backward passes that are thrown away, so the JIT has compiled the model's loops before
     * the first run is timed and the first optimizer in the table is not charged for the warm-up.
     */
    public void warmUp() {
        Dataset train = split.train();
        Mlp model = new Mlp(batchSize);
        for (Map.Entry<String, float[]> e : Mlp.heInit(seed).entrySet()) {
            model.setParameter(e.getKey(), e.getValue());
        }
        int[] indices = new int[train.size()];
        for (int i = 0; i < indices.length; i++) {
            indices[i] = i;
        }
        for (int pass = 0; pass < 2; pass++) {
            for (int from = 0; from < indices.length; from += batchSize) {
                model.lossAndGradients(train, indices, from, Math.min(batchSize, indices.length - from));
            }
        }
    }

    private static void shuffle(int[] a, Random random) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }
}
