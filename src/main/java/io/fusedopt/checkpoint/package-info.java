/**
 * The internals of {@link io.fusedopt.Checkpoint}, not part of fusedopt's API: the safetensors container
 * ({@link io.fusedopt.checkpoint.Safetensors}), the fusedopt metadata schema ({@link io.fusedopt.checkpoint.Schema}),
 * matching a file against a live optimizer ({@link io.fusedopt.checkpoint.Matching}) and streaming state to and
 * from a file ({@link io.fusedopt.checkpoint.Streaming}). Applications use {@code Checkpoint},
 * {@code Optimizer.saveState} and {@code Optimizer.loadState}; everything here may change without notice.
 */
package io.fusedopt.checkpoint;
