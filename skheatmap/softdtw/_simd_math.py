"""Branch-free ``exp`` and ``log`` that LLVM can vectorise across SIMD lanes.

numba calls libm for ``math.exp``/``math.log`` one lane at a time unless Intel's
SVML is installed, which it usually is not. The soft-min needs three exps and
one log per cell, so scalar libm calls would dominate the whole DP. These
versions use only arithmetic, comparisons and bit casts (Cody-Waite range
reduction plus polynomials), which the loop vectoriser turns into AVX code;
both are accurate to about one ulp over the ranges the soft-min uses.
"""

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # high bits of ln 2: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.9082149292705877e-10
_ROUND_SHIFT = 6755399441055744.0  # 1.5 * 2**52: adding it rounds to an integer
_EXP_FLOOR = -708.0  # below this exp underflows into subnormals; we return 0
_SQRT2 = 1.4142135623730951


@intrinsic
def _float_bits(typingctx, value):
    """Reinterpret a float64 as the int64 with the same bits."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, inline="always", error_model="numpy")
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (``-inf`` and anything below -708 give 0)."""
    clipped = x if x > _EXP_FLOOR else _EXP_FLOOR  # a select: max() would be a call
    shifted = clipped * _LOG2E + _ROUND_SHIFT
    k = shifted - _ROUND_SHIFT
    r = clipped - k * _LN2_HI - k * _LN2_LO
    # Taylor series of exp on |r| <= ln(2)/2, truncation error below 4e-18.
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    exponent = _float_bits(shifted) - _float_bits(_ROUND_SHIFT)
    scale = _bits_float((exponent + 1023) << 52)
    return p * scale if x >= _EXP_FLOOR else 0.0


@njit(cache=True, inline="always", error_model="numpy")
def log_1_to_4(s):
    """``log(s)`` for ``1 <= s <= 4`` (the soft-min's partition function)."""
    # Scale s by 1, 1/2 or 1/4 into [sqrt(2)/2, sqrt(2)], then log u = 2 atanh(z).
    halvings = (s > _SQRT2) * 1.0 + (s > 2.0 * _SQRT2) * 1.0
    u = s * (1.0 - 0.5 * halvings + 0.125 * halvings * (halvings - 1.0))
    z = (u - 1.0) / (u + 1.0)
    z2 = z * z
    # atanh series: |z| <= 3 - 2 sqrt(2) ~ 0.1716, 11 terms leave < 1e-18.
    p = 1.0 / 21.0
    p = p * z2 + 1.0 / 19.0
    p = p * z2 + 1.0 / 17.0
    p = p * z2 + 1.0 / 15.0
    p = p * z2 + 1.0 / 13.0
    p = p * z2 + 1.0 / 11.0
    p = p * z2 + 1.0 / 9.0
    p = p * z2 + 1.0 / 7.0
    p = p * z2 + 1.0 / 5.0
    p = p * z2 + 1.0 / 3.0
    p = p * z2 + 1.0
    return halvings * _LN2_HI + (halvings * _LN2_LO + 2.0 * z * p)
