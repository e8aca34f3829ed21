package io.fusedopt.demo;

/**
 * One point of a training curve, taken at the end of an epoch, or before training for epoch 0.
 *
 * @param epoch the epoch just finished, from 1; 0 for the initial parameters
 * @param step optimizer steps taken so far
 * @param trainLoss the mean mini-batch cross-entropy over the epoch (each sample weighted once, with the parameters
 *     of the moment it was in a batch); for epoch 0 the cross-entropy of the initial parameters on the training set
 * @param testAccuracy the share of test samples classified correctly after the epoch, in [0, 1]
 * @param lr the learning rate of the epoch's last step; for epoch 0 the rate the first step will use
 */
public record EpochPoint(int epoch, long step, double trainLoss, double testAccuracy, double lr) {
}
