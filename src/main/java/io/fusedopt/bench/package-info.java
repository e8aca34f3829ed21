/**
 * The measurements behind {@code fusedopt bench}: model layouts, the memory traffic of each rule's step, the
 * machine's reference bandwidth (an in-place stream on the CPU, a device-to-device copy on CUDA) and the timed
 * step loop. The JMH benchmarks in {@code src/jmh/java} reuse these pieces.
 */
package io.fusedopt.bench;
