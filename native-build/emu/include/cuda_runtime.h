// Host-build stand-in for the CUDA header of the same name: everything a
// kernel needs comes from the force-included shim.
#include "cuda_runtime_shim.h"
