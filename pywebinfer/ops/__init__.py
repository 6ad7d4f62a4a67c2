"""Op registry and the numpy reference kernels, one module per op family."""
