// Tensor module.
