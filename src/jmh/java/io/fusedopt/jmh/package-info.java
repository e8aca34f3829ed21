/**
 * JMH benchmarks of fusedopt: the step of every rule on every usable backend, fused against unfused updates, one
 * arena against one optimizer per tensor, and the host-side schedule and scalar work of a step. Build with
 * {@code mvn -B -P jmh package -DskipTests} and run {@code java -jar target/benchmarks.jar}; the launcher
 * ({@link io.fusedopt.jmh.BenchmarksMain}) picks the usable backends.
 */
package io.fusedopt.jmh;
