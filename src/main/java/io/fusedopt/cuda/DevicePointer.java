package io.fusedopt.cuda;

import jcuda.driver.CUdeviceptr;

/** A device pointer whose address can be read, for handing tensors to frameworks. */
final class DevicePointer extends CUdeviceptr {
    DevicePointer() {
    }

    /** The device address. */
    long address() {
        return getNativePointer();
    }
}
