# Shared fused types for the kernels.
ctypedef fused floating:
    float
    double
