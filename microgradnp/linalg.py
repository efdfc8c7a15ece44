"""``mg.linalg``: PyTorch's ``torch.linalg`` functions, differentiable (the decompositions'
gradients are PyTorch's rules): ``inv det slogdet solve solve_triangular cholesky qr svd
svdvals eigh eigvalsh pinv lstsq matrix_exp matrix_power matrix_norm vector_norm norm cross
multi_dot vecdot matmul diagonal``."""

from microgradnp.ops import matmul
from microgradnp.ops.torch_shape import (
    cholesky,
    cross,
    det,
    diagonal,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matrix_exp,
    matrix_norm,
    matrix_power,
    multi_dot,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
    svdvals,
    vecdot,
    vector_norm,
)

__all__ = ["cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "lstsq", "matmul", "matrix_exp",
           "matrix_norm", "matrix_power", "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_triangular",
           "svd", "svdvals", "vecdot", "vector_norm"]
